//! OCI: what is signed and where it lives — digests, image references,
//! targets (files, OCI layouts, registries), the signature artifact format,
//! the registry client, and the referrers it writes.

pub(crate) mod artifact;
pub(crate) mod client;
pub(crate) mod digest;
pub(crate) mod reference;
pub(crate) mod referrers;
pub(crate) mod target;

pub use artifact::{ARTIFACT_TYPE, NotAManifest};
pub use client::{
    AuthHost, AuthHostError, AuthStore, ClientSetupError, Credentials, Descriptor, DockerConfig,
    DockerConfigError, EmbeddedError, MAX_REFERRERS, Registry, RegistryError, RegistryOptions,
    select_referrers,
};
pub use digest::{Digest, DigestError};
pub use reference::Reference;
