//! OCI: what is signed and where it lives — digests, image references,
//! targets (files, OCI layouts, registries), the signature artifact format,
//! the registry client, and the referrers it writes.

pub mod artifact;
pub mod client;
pub mod digest;
pub mod reference;
pub mod referrers;
pub mod target;
