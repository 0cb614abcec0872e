//! What registries exchange: descriptors, manifests, indexes, media types,
//! the referrers nv2 selects, and the size limits of each.

use serde::{Deserialize, Serialize};

use crate::oci::digest::{Digest, shorten};
use crate::oci::reference::Reference;

/// Manifests larger than this are refused (DESIGN §4).
pub(crate) const MAX_MANIFEST: u64 = crate::io::MAX_MANIFEST;
/// Signature blobs larger than this are refused (DESIGN §4).
pub(crate) const MAX_SIGNATURE_BLOB: u64 = crate::io::MAX_SIGNATURE_FILE;
/// At most this many referrers are considered.
pub const MAX_REFERRERS: usize = 100;
/// Error bodies and token responses are read up to this size.
pub(super) const MAX_SMALL_BODY: u64 = 64 << 10;
/// Redirects followed for one manifest or blob GET.
pub(crate) const MAX_REDIRECTS: usize = 5;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest type nv2 resolves targets as.
pub(super) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
    /// Embedded content (base64), checked against digest and size before use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// Why a descriptor's embedded `data` cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EmbeddedError {
    #[error("embedded data of {digest} is not base64: {reason}")]
    NotBase64 { digest: String, reason: String },
    #[error("{0}")]
    Digest(#[from] crate::oci::digest::DigestError),
    #[error("embedded data does not match {0}")]
    Mismatch(Digest),
}

impl Descriptor {
    /// The embedded content, if present and true to the descriptor.
    pub fn embedded(&self) -> Option<Result<Vec<u8>, EmbeddedError>> {
        let data = self.data.as_ref()?;
        Some(
            crate::signature::envelope::decode_base64(data)
                .map_err(|e| EmbeddedError::NotBase64 {
                    digest: shorten(&self.digest),
                    reason: e.to_string(),
                })
                .and_then(|bytes| {
                    let digest = Digest::parse(&self.digest)?;
                    if bytes.len() as u64 != self.size || !digest.matches(&bytes) {
                        return Err(EmbeddedError::Mismatch(digest));
                    }
                    Ok(bytes)
                }),
        )
    }
}

/// A manifest fetched from a registry; `digest` is computed from `bytes`.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Manifest {
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.to_string(),
            size: self.bytes.len() as u64,
            artifact_type: None,
            annotations: None,
            data: None,
        }
    }
}

/// Result of a manifest upload.
#[derive(Clone, Debug)]
pub struct PutManifest {
    pub digest: Digest,
    /// The registry processed `subject` itself (OCI 1.1 `OCI-Subject` header).
    pub subject_handled: bool,
}

/// The referrers worth fetching, from an index anyone who can push may have
/// padded: other artifact types dropped first, each digest once, then at most
/// [`MAX_REFERRERS`]; `truncated` says whether the cap cut the list.
pub fn select_referrers(manifests: Vec<Descriptor>, artifact_type: &str) -> Referrers {
    let mut seen = std::collections::HashSet::new();
    let mut wanted = manifests
        .into_iter()
        .filter(|d| d.artifact_type.as_deref() == Some(artifact_type))
        .filter(|d| seen.insert(d.digest.clone()));
    let descriptors: Vec<Descriptor> = wanted.by_ref().take(MAX_REFERRERS).collect();
    let truncated = wanted.next().is_some();
    Referrers {
        descriptors,
        truncated,
    }
}

/// The referrers of one subject that nv2 will look at.
#[derive(Debug, Default)]
pub struct Referrers {
    pub descriptors: Vec<Descriptor>,
    /// More referrers of the type were listed than [`MAX_REFERRERS`].
    pub truncated: bool,
}

/// The referrers fallback tag of `subject`: `sha256-<hex>`.
pub(crate) fn referrers_tag(r: &Reference, subject: &Digest) -> Reference {
    let tag = format!("sha256-{}", subject.hex());
    // A valid tag by construction (71 characters of [a-z0-9-]).
    Reference::parse(&format!("{}:{tag}", r.repo_name())).unwrap_or_else(|_| r.clone())
}

/// An OCI image index, as far as referrers go.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}
