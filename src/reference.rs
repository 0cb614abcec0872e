//! Image references: parse and normalise as Docker and containerd do
//! (`nginx` → `docker.io/library/nginx:latest`).

use std::fmt;

use crate::digest::{Digest, shorten};

/// A normalised image reference: registry, repository, and a tag and/or digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    input: String,
    reason: &'static str,
}

pub const DOCKER_HUB: &str = "docker.io";

impl Reference {
    /// Parses `[registry/]repository[:tag][@sha256:…]`; a missing tag and
    /// digest means `latest`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let err = |reason| ReferenceError {
            input: shorten(input),
            reason,
        };
        if input.is_empty() || input.len() > 4096 {
            return Err(err("empty or too long"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((name, d)) => (
                name,
                Some(Digest::parse(d).map_err(|_| err("digest is not sha256:<64 hex>"))?),
            ),
            None => (input, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(err(
                "tag must be 1-128 characters of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        if !valid_registry(&registry) {
            return Err(err("registry host is malformed"));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !repository.split('/').all(valid_path_component) {
            return Err(err(
                "repository must be lowercase components of [a-z0-9] separated by ., _, __ or -",
            ));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as written (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host to talk to: Docker Hub's API lives at `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag, or failing that the digest: what to ask the registry for.
    pub fn tag_or_digest(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.as_str(),
            (None, Some(t)) => t,
            (None, None) => "latest",
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn repo_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// This reference pinned to `digest`, keeping the tag (`repo:tag@sha256:…`).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository, by digest only.
    pub fn by_digest(&self, digest: Digest) -> Self {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-'])
}

fn valid_registry(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = if let Some(v6) = name.strip_prefix('[') {
        v6.strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    port_ok && name_ok
}

fn valid_path_component(c: &str) -> bool {
    if c.is_empty()
        || !c.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
    {
        return false;
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators: one '.', one or two '_', or any run of '-'; never mixed.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(
            norm("index.docker.io/library/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            norm("localhost:5000/hello-world:v1.0"),
            "localhost:5000/hello-world:v1.0"
        );
        assert_eq!(norm("localhost/a"), "localhost/a:latest");
        assert_eq!(norm("ghcr.io/o/r/x:t"), "ghcr.io/o/r/x:t");
        let d = "sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55";
        assert_eq!(
            norm(&format!("nginx@{d}")),
            format!("docker.io/library/nginx@{d}")
        );
        assert_eq!(norm(&format!("r.io/a:v1@{d}")), format!("r.io/a:v1@{d}"));
        let r = Reference::parse("localhost:5000/hello-world:v1.0").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "hello-world");
        assert_eq!(r.tag(), Some("v1.0"));
        assert_eq!(
            Reference::parse("nginx").unwrap().api_host(),
            "registry-1.docker.io"
        );
        assert_eq!(norm("[::1]:5000/a"), "[::1]:5000/a:latest");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:abc",
            "a//b",
            "r.io/a..b",
            "r.io/a-",
            "bad host!/a",
            "r.io:99999999/a",
            "r.io/a:t@sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab5",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
