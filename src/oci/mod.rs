//! OCI: what is signed and where it lives — digests, image references,
//! targets (files, OCI layouts, registries), the signature artifact format,
//! and the registry client.

pub mod artifact;
pub mod client;
pub mod digest;
pub mod reference;
pub mod target;
