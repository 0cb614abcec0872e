//! The signature artifact in a registry: an OCI 1.1 artifact manifest whose
//! one layer is the `.nv2` file, and the referrers index that lists it.
//!
//! The layer descriptor also embeds the (small) `.nv2` bytes in its `data`
//! field, and the referrers index written by `nv2 link` embeds each signature
//! manifest the same way. Readers check embedded bytes against the digest and
//! size like any fetched blob; the blobs are still pushed, so clients that
//! ignore `data` work as usual. This saves the round trips that make a cold
//! verification cost five requests on registries without the referrers API.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::oci::client::{Descriptor, OCI_MANIFEST};
use crate::oci::digest::Digest;

/// `artifactType` of an nv2 signature.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.v2.signature";
/// Media type of the `.nv2` layer.
pub(crate) const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.cncf.notary.v2.signature+json";
/// The empty config of OCI 1.1 artifacts.
pub(crate) const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub(crate) const EMPTY_CONFIG: &[u8] = b"{}";
/// The 2020 prototype's config media type (the config blob is the signature).
pub(crate) const PROTOTYPE_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.notary.config.v2+json";
pub(crate) const CREATED: &str = "org.opencontainers.image.created";

/// An OCI image manifest, as far as signature artifacts go. Unknown fields
/// are kept so that linking preserves everything the pusher wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ArtifactManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

pub(crate) fn descriptor_of(media_type: &str, bytes: &[u8], embed: bool) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: Digest::of(bytes).to_string(),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: None,
        data: embed.then(|| B64.encode(bytes)),
    }
}

/// Bytes that are not an OCI image manifest.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("not an OCI manifest: {0}")]
pub struct NotAManifest(String);

impl ArtifactManifest {
    /// The unlinked signature manifest for `.nv2` bytes, created at `created` (RFC 3339).
    pub(crate) fn for_signature(signature: &[u8], created: &str) -> Self {
        ArtifactManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            artifact_type: Some(ARTIFACT_TYPE.to_owned()),
            config: descriptor_of(EMPTY_MEDIA_TYPE, EMPTY_CONFIG, true),
            layers: vec![descriptor_of(SIGNATURE_MEDIA_TYPE, signature, true)],
            subject: None,
            annotations: Some(BTreeMap::from([(CREATED.to_owned(), created.to_owned())])),
        }
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, NotAManifest> {
        serde_json::from_slice(bytes).map_err(|e| NotAManifest(crate::text::one_line(e)))
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether this is an nv2 signature (OCI 1.1 form, or the 2020 prototype's).
    pub(crate) fn is_signature(&self) -> bool {
        self.artifact_type.as_deref() == Some(ARTIFACT_TYPE)
            || self.config.media_type == ARTIFACT_TYPE
            || self.config.media_type == PROTOTYPE_CONFIG_MEDIA_TYPE
    }

    /// The descriptor of the blob holding the `.nv2` bytes.
    pub(crate) fn signature_blob(&self) -> Option<&Descriptor> {
        if self.config.media_type == PROTOTYPE_CONFIG_MEDIA_TYPE && self.layers.is_empty() {
            return Some(&self.config);
        }
        self.layers
            .iter()
            .find(|l| l.media_type == SIGNATURE_MEDIA_TYPE)
    }

    /// The referrers-index entry for this manifest stored as `bytes`, with
    /// the manifest embedded.
    pub(crate) fn index_entry(&self, bytes: &[u8]) -> Descriptor {
        let mut d = descriptor_of(OCI_MANIFEST, bytes, true);
        d.artifact_type = self
            .artifact_type
            .clone()
            .or_else(|| Some(ARTIFACT_TYPE.to_owned()));
        d.annotations = self.annotations.clone();
        d
    }
}
