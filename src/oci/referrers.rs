//! Writing the referrers protocol that discovery reads: a signature artifact
//! is linked to its target by writing it with `subject` = the target into
//! the target's repository; on a registry that does not process `subject`
//! itself (no referrers API), the `sha256-<hex>` referrers index is kept
//! current (read, add once, write).

use crate::oci::artifact::ArtifactManifest;
use crate::oci::client::{
    Descriptor, Index, MAX_SIGNATURE_BLOB, Manifest, OCI_INDEX, OCI_MANIFEST, Registry,
    RegistryError, referrers_tag,
};
use crate::oci::digest::Digest;
use crate::oci::reference::Reference;

/// Why a link could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("existing referrers index {tag} is malformed: {reason}")]
    MalformedIndex { tag: String, reason: String },
}

/// Writes the linked form of `manifest` (same blobs, `subject` = the target
/// `target_manifest`) into `target`'s repository, copying its blobs there
/// when the signature was pushed elsewhere, and keeps the referrers tag index
/// current when the registry does not handle `subject`. `signature` is the
/// signature blob's bytes. Returns the linked manifest's digest.
pub(crate) async fn link(
    client: &Registry,
    sig_repo: &Reference,
    manifest: &ArtifactManifest,
    signature: &[u8],
    target: &Reference,
    target_manifest: &Manifest,
) -> Result<Digest, LinkError> {
    if sig_repo.repo_name() != target.repo_name() {
        // Referrers live in the target's repository: copy the blobs there.
        let config = client
            .get_blob(sig_repo, &manifest.config, MAX_SIGNATURE_BLOB)
            .await?;
        client.push_blob(target, &config).await?;
        client.push_blob(target, signature).await?;
    }
    let mut linked = manifest.clone();
    linked.subject = Some(target_manifest.descriptor());
    let bytes = linked.to_bytes();
    let digest = Digest::of(&bytes);
    let put = client
        .put_manifest(target, digest.as_str(), OCI_MANIFEST, bytes.clone())
        .await?;
    if !put.subject_handled {
        update_referrers_index(
            client,
            target,
            &target_manifest.digest,
            linked.index_entry(&bytes),
        )
        .await?;
    }
    Ok(put.digest)
}

/// Read, add (once), write: the `sha256-<hex>` referrers index.
async fn update_referrers_index(
    client: &Registry,
    target: &Reference,
    subject: &Digest,
    entry: Descriptor,
) -> Result<(), LinkError> {
    let tag_ref = referrers_tag(target, subject);
    let mut index = match client.get_manifest(&tag_ref).await {
        Ok(m) => {
            serde_json::from_slice::<Index>(&m.bytes).map_err(|e| LinkError::MalformedIndex {
                tag: tag_ref.to_string(),
                reason: crate::text::one_line(e),
            })?
        }
        Err(RegistryError::NotFound { .. }) => Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: Vec::new(),
        },
        Err(e) => return Err(e.into()),
    };
    if index.manifests.iter().any(|d| d.digest == entry.digest) {
        return Ok(());
    }
    index.manifests.push(entry);
    let bytes = serde_json::to_vec(&index).map_err(|e| LinkError::MalformedIndex {
        tag: tag_ref.to_string(),
        reason: e.to_string(),
    })?;
    let tag = tag_ref.tag().unwrap_or_default().to_owned();
    client.put_manifest(target, &tag, OCI_INDEX, bytes).await?;
    Ok(())
}
