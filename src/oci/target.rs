//! Where a manifest comes from: stdin, a file, an OCI image layout, a bare
//! digest, or a registry. Every form yields the descriptor a signature is
//! checked against (digest, and size when known) and, when available, the
//! exact manifest bytes.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::io::{MAX_MANIFEST, read_all_bounded, read_bounded};
use crate::oci::digest::{Digest, shorten};
use crate::oci::reference::Reference;
use crate::verify::pipeline::Subject;

/// A target as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Manifest bytes on standard input.
    Stdin,
    /// `file:PATH`: manifest bytes in a file.
    File(PathBuf),
    /// `oci-layout:DIR[:TAG|@DIGEST]`: a manifest in an OCI image layout.
    OciLayout {
        dir: PathBuf,
        selector: LayoutSelector,
    },
    /// A bare `sha256:<hex>`: the digest alone, size unknown.
    Digest(Digest),
    /// `docker://REF` or `oci://REF`: a manifest in a registry.
    Remote(Reference),
}

/// Which manifest of an OCI layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LayoutSelector {
    /// The only manifest in `index.json`.
    Only,
    Tag(String),
    Digest(Digest),
}

/// A target resolved to its descriptor.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub digest: Digest,
    pub size: Option<u64>,
    /// The descriptor's media type, when known (what a Notation payload names).
    pub media_type: Option<String>,
    /// The exact manifest bytes, when the target had them.
    pub bytes: Option<Vec<u8>>,
    /// The image's canonical `registry/repository`, for a registry target.
    pub name: Option<String>,
}

impl Resolved {
    /// Descriptor of `bytes`, media type from the manifest's own `mediaType`.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        Resolved {
            digest: Digest::of(&bytes),
            size: Some(bytes.len() as u64),
            media_type: media_type_of(&bytes),
            bytes: Some(bytes),
            name: None,
        }
    }

    /// What a signature must sign.
    pub(crate) fn subject(&self) -> Subject {
        Subject {
            digest: self.digest.clone(),
            size: self.size,
            name: self.name.clone(),
        }
    }
}

/// Why a target cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    #[error(
        "unrecognised target {0:?}: expected file:PATH, oci-layout:DIR[:TAG|@DIGEST], sha256:<hex>, docker://REF or oci://REF (or the manifest on stdin)"
    )]
    Unrecognised(String),
    #[error("{0}")]
    Reference(#[from] crate::oci::reference::ReferenceError),
    #[error("{0}")]
    Digest(#[from] crate::oci::digest::DigestError),
    #[error("{what}: {reason}")]
    Read { what: String, reason: String },
    #[error("{0}")]
    Layout(String),
}

impl Target {
    /// Parses a target argument; `None` is stdin.
    pub(crate) fn parse(arg: Option<&str>) -> Result<Self, TargetError> {
        let Some(arg) = arg else {
            return Ok(Target::Stdin);
        };
        if arg == "-" {
            return Ok(Target::Stdin);
        }
        if let Some(path) = arg.strip_prefix("file:") {
            return Ok(Target::File(PathBuf::from(path)));
        }
        if let Some(rest) = arg.strip_prefix("oci-layout:") {
            return parse_layout(rest);
        }
        if let Some(r) = arg
            .strip_prefix("docker://")
            .or_else(|| arg.strip_prefix("oci://"))
        {
            return Ok(Target::Remote(Reference::parse(r)?));
        }
        if arg.starts_with("sha256:") {
            return Ok(Target::Digest(Digest::parse(arg)?));
        }
        Err(TargetError::Unrecognised(shorten(arg)))
    }

    /// Resolves a local target (everything but `Remote`).
    pub(crate) fn resolve_local(&self) -> Result<Resolved, TargetError> {
        match self {
            Target::Stdin => {
                let bytes =
                    read_all_bounded(std::io::stdin().lock(), MAX_MANIFEST).map_err(|e| {
                        TargetError::Read {
                            what: "manifest on stdin".into(),
                            reason: e.to_string(),
                        }
                    })?;
                if bytes.is_empty() {
                    return Err(TargetError::Read {
                        what: "manifest on stdin".into(),
                        reason: "no input (pipe a manifest in, or name a target)".into(),
                    });
                }
                Ok(Resolved::from_bytes(bytes))
            }
            Target::File(path) => read_bounded(path, MAX_MANIFEST)
                .map(Resolved::from_bytes)
                .map_err(|e| TargetError::Read {
                    what: path.display().to_string(),
                    reason: e.to_string(),
                }),
            Target::OciLayout { dir, selector } => resolve_layout(dir, selector),
            Target::Digest(d) => Ok(Resolved {
                digest: d.clone(),
                size: None,
                media_type: None,
                bytes: None,
                name: None,
            }),
            Target::Remote(r) => Err(TargetError::Layout(format!(
                "docker://{r} is a registry target and needs the registry client"
            ))),
        }
    }
}

/// The `mediaType` field of a manifest, if it has one.
pub(crate) fn media_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct MediaType {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<MediaType>(bytes).ok()?.media_type
}

fn parse_layout(rest: &str) -> Result<Target, TargetError> {
    if let Some((dir, digest)) = rest.rsplit_once('@') {
        return Ok(Target::OciLayout {
            dir: PathBuf::from(dir),
            selector: LayoutSelector::Digest(Digest::parse(digest)?),
        });
    }
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.is_empty() && !tag.contains('/') && !dir.is_empty() => {
            Ok(Target::OciLayout {
                dir: PathBuf::from(dir),
                selector: LayoutSelector::Tag(tag.to_owned()),
            })
        }
        _ if rest.is_empty() => Err(TargetError::Unrecognised("oci-layout:".into())),
        _ => Ok(Target::OciLayout {
            dir: PathBuf::from(rest),
            selector: LayoutSelector::Only,
        }),
    }
}

#[derive(Deserialize)]
struct LayoutIndex {
    #[serde(default)]
    manifests: Vec<LayoutDescriptor>,
}

#[derive(Deserialize)]
struct LayoutDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

// Over 60 lines: the layout's checks in the order the files are read (index, selection, blob, digest, size).
fn resolve_layout(dir: &Path, selector: &LayoutSelector) -> Result<Resolved, TargetError> {
    let layout_err =
        |reason: String| TargetError::Layout(format!("OCI layout {}: {reason}", dir.display()));
    if !dir.join("oci-layout").is_file() {
        return Err(layout_err(
            "not an OCI image layout (no oci-layout file)".into(),
        ));
    }
    let index_bytes = read_bounded(&dir.join("index.json"), MAX_MANIFEST)
        .map_err(|e| layout_err(format!("index.json: {e}")))?;
    let index: LayoutIndex =
        serde_json::from_slice(&index_bytes).map_err(|e| layout_err(format!("index.json: {e}")))?;
    let tags = || {
        let names: Vec<&str> = index
            .manifests
            .iter()
            .filter_map(|m| m.annotations.get(REF_NAME).map(String::as_str))
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let chosen = match selector {
        LayoutSelector::Only => match index.manifests.as_slice() {
            [one] => Some(one),
            [] => return Err(layout_err("index.json lists no manifest".into())),
            _ => {
                return Err(layout_err(format!(
                    "holds several manifests; name one with :TAG or @DIGEST (tags: {})",
                    tags()
                )));
            }
        },
        LayoutSelector::Tag(tag) => Some(
            index
                .manifests
                .iter()
                .find(|m| m.annotations.get(REF_NAME) == Some(tag))
                .ok_or_else(|| layout_err(format!("no tag {tag:?} (tags: {})", tags())))?,
        ),
        LayoutSelector::Digest(d) => index.manifests.iter().find(|m| m.digest == d.as_str()),
    };
    let (digest, size, media_type) = match (chosen, selector) {
        (Some(m), _) => (
            Digest::parse(&m.digest).map_err(|e| layout_err(e.to_string()))?,
            Some(m.size),
            Some(m.media_type.clone()),
        ),
        // A digest not in index.json may still be a blob (e.g. a child of an index).
        (None, LayoutSelector::Digest(d)) => (d.clone(), None, None),
        (None, _) => return Err(layout_err("no manifest selected".into())),
    };
    let blob_path = dir.join("blobs").join("sha256").join(digest.hex());
    let bytes = read_bounded(&blob_path, MAX_MANIFEST)
        .map_err(|e| layout_err(format!("blob {digest}: {e}")))?;
    if !digest.matches(&bytes) {
        return Err(layout_err(format!(
            "blob {digest} does not match its digest"
        )));
    }
    if let Some(size) = size
        && size != bytes.len() as u64
    {
        return Err(layout_err(format!(
            "blob {digest} is {} bytes, but index.json says {size}",
            bytes.len()
        )));
    }
    let media_type = media_type.or_else(|| media_type_of(&bytes));
    Ok(Resolved {
        digest,
        size: Some(bytes.len() as u64),
        media_type,
        bytes: Some(bytes),
        name: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_target_forms() {
        assert_eq!(Target::parse(None).unwrap(), Target::Stdin);
        assert_eq!(
            Target::parse(Some("file:m.json")).unwrap(),
            Target::File("m.json".into())
        );
        assert_eq!(
            Target::parse(Some("oci-layout:./hello:dev")).unwrap(),
            Target::OciLayout {
                dir: "./hello".into(),
                selector: LayoutSelector::Tag("dev".into())
            }
        );
        assert_eq!(
            Target::parse(Some("oci-layout:./hello")).unwrap(),
            Target::OciLayout {
                dir: "./hello".into(),
                selector: LayoutSelector::Only
            }
        );
        let d = "sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55";
        assert!(matches!(Target::parse(Some(d)).unwrap(), Target::Digest(_)));
        assert!(matches!(
            Target::parse(Some(&format!("oci-layout:/x/y@{d}"))).unwrap(),
            Target::OciLayout {
                selector: LayoutSelector::Digest(_),
                ..
            }
        ));
        assert!(matches!(
            Target::parse(Some("docker://localhost:5000/hello-world:v1.0")).unwrap(),
            Target::Remote(_)
        ));
        assert!(Target::parse(Some("hello.json")).is_err());
        assert!(Target::parse(Some("sha256:abc")).is_err());
    }
}
