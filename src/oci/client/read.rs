//! The reads verification needs from a registry, as a small trait: the real
//! [`Registry`] implements it, and tests give the engine and discovery an
//! in-memory registry to exercise every branch without a network.

use std::future::Future;

use super::{Descriptor, Manifest, Referrers, Registry, RegistryError};
use crate::oci::digest::Digest;
use crate::oci::reference::Reference;

/// Reading manifests, referrers and blobs of one registry.
pub trait RegistryRead: Send + Sync {
    /// A manifest by tag or digest, at most `limit` bytes, digest-checked.
    fn manifest(
        &self,
        r: &Reference,
        limit: u64,
    ) -> impl Future<Output = Result<Manifest, RegistryError>> + Send;

    /// The referrers of `subject` with `artifact_type` (see [`Registry::referrers`]).
    fn referrers(
        &self,
        r: &Reference,
        subject: &Digest,
        artifact_type: &str,
    ) -> impl Future<Output = Result<Referrers, RegistryError>> + Send;

    /// A blob, at most `limit` bytes, checked against `desc`.
    fn blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<u8>, RegistryError>> + Send;
}

impl RegistryRead for Registry {
    async fn manifest(&self, r: &Reference, limit: u64) -> Result<Manifest, RegistryError> {
        self.get_manifest_within(r, limit).await
    }

    async fn referrers(
        &self,
        r: &Reference,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Referrers, RegistryError> {
        Registry::referrers(self, r, subject, artifact_type).await
    }

    async fn blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        self.get_blob(r, desc, limit).await
    }
}
