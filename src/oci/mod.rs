//! OCI: what is signed and where it lives — digests, image references,
//! targets (files, OCI layouts, registries), the signature artifact format,
//! the registry client, and the referrers it writes.

pub(crate) mod artifact;
pub(crate) mod client;
pub(crate) mod digest;
pub(crate) mod reference;
pub(crate) mod referrers;
pub(crate) mod target;

pub use artifact::ARTIFACT_TYPE;
pub use client::{
    AuthHost, AuthStore, Credentials, Descriptor, DockerConfig, MAX_REFERRERS, Registry,
    RegistryError, RegistryOptions, select_referrers,
};
pub use digest::Digest;
pub use reference::Reference;
