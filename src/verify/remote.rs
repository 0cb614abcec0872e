//! Remote verification: resolve an image reference to its manifest digest,
//! discover the signatures linked to it, fetch them, and verify each with the
//! same [`verify_envelope`] the offline CLI uses. The webhook calls this too.

use futures_util::StreamExt;

use crate::oci::artifact::{ARTIFACT_TYPE, ArtifactManifest};
use crate::oci::client::{MAX_MANIFEST, MAX_SIGNATURE_BLOB, RegistryError, RegistryRead};
use crate::oci::digest::{Digest, shorten};
use crate::oci::reference::Reference;
use crate::oci::target::Resolved;
use crate::signature::format::SignatureEnvelope;
use crate::verify::pipeline::{Check, Requirements, Subject, Verdict, verify_any_within};

/// A signature linked to a target, fetched (or the reason it could not be).
#[derive(Debug)]
pub struct FoundSignature {
    /// The signature manifest's digest.
    pub manifest_digest: String,
    pub created: Option<String>,
    pub envelope: Result<SignatureEnvelope, FetchError>,
}

/// Why one linked signature could not be fetched or read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    #[error("{0}")]
    Digest(#[from] crate::oci::digest::DigestError),
    #[error("signature manifest of {0} bytes is larger than {MAX_SIGNATURE_MANIFEST}")]
    ManifestTooLarge(u64),
    #[error(
        "not fetched: the image's signature download budget ({} MiB) is spent",
        MAX_IMAGE_SIGNATURE_BYTES >> 20
    )]
    BudgetSpent,
    #[error("{0}")]
    Embedded(#[from] crate::oci::client::EmbeddedError),
    #[error("{0}")]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    NotAManifest(#[from] crate::oci::artifact::NotAManifest),
    #[error("not an nv2 signature artifact")]
    NotASignature,
    #[error("linked to {}, not to {subject}", shorten(.linked))]
    LinkedElsewhere { linked: String, subject: Digest },
    #[error("has no subject, so it is not linked to {0}")]
    NoSubject(Digest),
    #[error("signature artifact has no signature layer")]
    NoSignatureLayer,
    #[error("{0}")]
    Envelope(#[from] crate::signature::format::FormatError),
}

/// Resolves `r` to its manifest (one GET; the digest is computed from the bytes).
pub(crate) async fn resolve(
    registry: &impl RegistryRead,
    r: &Reference,
) -> Result<Resolved, RegistryError> {
    let m = registry.manifest(r, MAX_MANIFEST).await?;
    Ok(Resolved {
        size: Some(m.bytes.len() as u64),
        digest: m.digest,
        media_type: Some(m.media_type),
        bytes: Some(m.bytes),
        name: Some(r.repo_name()),
    })
}

/// At most this many reasons are told for one image (the first ones).
pub(crate) const MAX_REASONS: usize = 8;

/// At most this many signatures are checked for one image, across all its
/// signature files: the CPU one image can cost is bounded whatever is pushed.
pub const MAX_IMAGE_SIGNATURES: usize = 128;

/// The signatures linked to one subject.
#[derive(Debug, Default)]
pub struct Discovered {
    pub signatures: Vec<FoundSignature>,
    /// More were linked than nv2 looks at ([`crate::oci::client::MAX_REFERRERS`]).
    pub truncated: bool,
}

/// The nv2 signatures linked to `subject` in `r`'s repository, each fetched
/// and parsed. Discovery failures are errors; a single bad signature is not.
pub(crate) async fn discover(
    registry: &impl RegistryRead,
    r: &Reference,
    subject: &Digest,
) -> Result<Discovered, RegistryError> {
    let referrers = registry.referrers(r, subject, ARTIFACT_TYPE).await?;
    let truncated = referrers.truncated;
    let budget = ByteBudget::new(MAX_IMAGE_SIGNATURE_BYTES);
    let budget = &budget;
    let fetches = referrers.descriptors.into_iter().map(|desc| async move {
        let envelope = fetch_signature(registry, r, subject, &desc, budget).await;
        let created = desc
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::oci::artifact::CREATED))
            .cloned();
        FoundSignature {
            manifest_digest: desc.digest.clone(),
            created,
            envelope: envelope.map(|(env, _)| env),
        }
    });
    let signatures = futures_util::stream::iter(fetches)
        .buffered(FETCH_CONCURRENCY)
        .collect()
        .await;
    Ok(Discovered {
        signatures,
        truncated,
    })
}

/// Signature manifests are small (a config, one layer, a subject); a larger
/// one is not read.
pub const MAX_SIGNATURE_MANIFEST: u64 = 256 << 10;
/// At most this many bytes of signature manifests and blobs are fetched for
/// one image, whatever its referrers declare: what a hostile repository can
/// make nv2 hold is bounded.
pub const MAX_IMAGE_SIGNATURE_BYTES: u64 = 2 << 20;
/// Signature artifacts of one image fetched at a time.
const FETCH_CONCURRENCY: usize = 4;

/// Bytes an image's signature fetches may still take.
struct ByteBudget(std::sync::atomic::AtomicU64);

impl ByteBudget {
    fn new(bytes: u64) -> Self {
        ByteBudget(std::sync::atomic::AtomicU64::new(bytes))
    }

    /// Gives back what a reservation did not use.
    fn refund(&self, n: u64) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes `n` bytes, or refuses when fewer are left.
    fn take(&self, n: u64) -> Result<(), FetchError> {
        use std::sync::atomic::Ordering;
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .map(|_| ())
            .map_err(|_| FetchError::BudgetSpent)
    }
}

async fn fetch_signature(
    registry: &impl RegistryRead,
    r: &Reference,
    subject: &Digest,
    desc: &crate::oci::client::Descriptor,
    budget: &ByteBudget,
) -> Result<(SignatureEnvelope, ArtifactManifest), FetchError> {
    let digest = Digest::parse(&desc.digest)?;
    if desc.size > MAX_SIGNATURE_MANIFEST {
        return Err(FetchError::ManifestTooLarge(desc.size));
    }
    let bytes = match desc.embedded() {
        Some(embedded) => embedded?,
        None => {
            // Charged for what may be read, not for what the registry
            // declares; what was not read is given back.
            budget.take(MAX_SIGNATURE_MANIFEST)?;
            let bytes = registry
                .manifest(&r.by_digest(digest.clone()), MAX_SIGNATURE_MANIFEST)
                .await?
                .bytes;
            budget.refund(MAX_SIGNATURE_MANIFEST.saturating_sub(bytes.len() as u64));
            bytes
        }
    };
    let manifest = ArtifactManifest::parse(&bytes)?;
    if !manifest.is_signature() {
        return Err(FetchError::NotASignature);
    }
    match &manifest.subject {
        Some(s) if s.digest == subject.as_str() => {}
        Some(s) => {
            return Err(FetchError::LinkedElsewhere {
                linked: s.digest.clone(),
                subject: subject.clone(),
            });
        }
        None => return Err(FetchError::NoSubject(subject.clone())),
    }
    let blob = manifest
        .signature_blob()
        .ok_or(FetchError::NoSignatureLayer)?;
    if blob.data.is_none() {
        // A blob is read up to its declared size, which is checked.
        budget.take(blob.size.min(MAX_SIGNATURE_BLOB))?;
    }
    let sig = registry.blob(r, blob, MAX_SIGNATURE_BLOB).await?;
    let env = SignatureEnvelope::parse(&blob.media_type, &sig)?;
    Ok((env, manifest))
}

/// The outcome of verifying every linked signature of one image.
#[derive(Debug, serde::Serialize)]
pub struct RemoteVerdict {
    pub digest: Digest,
    pub signatures: Vec<RemoteSignatureVerdict>,
    /// Some linked signatures were not looked at (too many referrers, or the
    /// image's signature budget was spent).
    pub truncated: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct RemoteSignatureVerdict {
    pub manifest_digest: String,
    /// The verdict, or why the signature could not be fetched or read.
    pub verdict: Result<Verdict, String>,
}

impl RemoteVerdict {
    /// Whether at least one linked signature passes with `enforced` checks.
    pub fn passes(&self, enforced: &[Check]) -> bool {
        self.signatures
            .iter()
            .any(|s| s.verdict.as_ref().is_ok_and(|v| v.passes(enforced)))
    }

    /// Until when the passing signatures stay valid (the latest of them).
    pub fn valid_until(&self) -> Option<i64> {
        self.signatures
            .iter()
            .filter_map(|s| s.verdict.as_ref().ok())
            .filter(|v| v.is_verified())
            .filter_map(|v| v.valid_until())
            .max()
    }

    pub fn is_verified(&self) -> bool {
        self.passes(&[Check::Integrity, Check::Authenticity, Check::Expiry])
    }

    /// Why nothing passed: one line per signature (or one saying there are none).
    pub fn reasons(&self) -> Vec<String> {
        if self.signatures.is_empty() {
            return vec![format!("no signatures are linked to {}", self.digest)];
        }
        let mut out = Vec::new();
        if self.truncated {
            out.push(format!(
                "more signatures are linked to {} than nv2 checks (at most {} signature artifacts and {MAX_IMAGE_SIGNATURES} signatures); the rest were not looked at",
                self.digest,
                crate::oci::client::MAX_REFERRERS
            ));
        }
        for s in &self.signatures {
            let name = format!("signature {}", shorten(&s.manifest_digest));
            match &s.verdict {
                Err(e) => out.push(format!("{name}: {e}")),
                Ok(v) => out.extend(v.reasons().into_iter().map(|r| format!("{name}: {r}"))),
            }
        }
        if out.len() > MAX_REASONS {
            let more = out.len() - MAX_REASONS;
            out.truncate(MAX_REASONS);
            out.push(format!("… and {more} more"));
        }
        out
    }
}

/// Verifies every signature linked to `subject` in `r`'s repository.
pub(crate) async fn verify_linked(
    registry: &impl RegistryRead,
    r: &Reference,
    subject: &Subject,
    req: &Requirements<'_>,
) -> Result<RemoteVerdict, RegistryError> {
    let found = discover(registry, r, &subject.digest).await?;
    Ok(verify_found(found, subject, req))
}

/// Verifies discovered signatures (CPU only; no I/O), checking at most
/// [`MAX_IMAGE_SIGNATURES`] signatures in all.
pub fn verify_found(found: Discovered, subject: &Subject, req: &Requirements<'_>) -> RemoteVerdict {
    let mut budget = MAX_IMAGE_SIGNATURES;
    let wanted: usize = found
        .signatures
        .iter()
        .filter_map(|f| f.envelope.as_ref().ok())
        .map(|env| {
            env.signature_count()
                .min(crate::verify::pipeline::MAX_SIGNATURES)
        })
        .sum();
    let signatures: Vec<RemoteSignatureVerdict> = found
        .signatures
        .into_iter()
        .map(|f| RemoteSignatureVerdict {
            manifest_digest: f.manifest_digest,
            verdict: f
                .envelope
                .map(|env| verify_any_within(&env, subject, req, &mut budget))
                .map_err(|e| crate::verify::pipeline::bounded_reason(e.to_string())),
        })
        .collect();
    let spent = wanted > MAX_IMAGE_SIGNATURES;
    RemoteVerdict {
        digest: subject.digest.clone(),
        signatures,
        truncated: found.truncated || spent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_download_budget_is_shared_and_never_overdrawn() {
        let budget = ByteBudget::new(10);
        assert!(budget.take(6).is_ok());
        assert_eq!(budget.take(5), Err(FetchError::BudgetSpent));
        assert!(budget.take(4).is_ok());
        assert!(budget.take(1).is_err());
        assert!(budget.take(0).is_ok());
    }
}
