//! Image references: parse and normalise as Docker and containerd do
//! (`nginx` → `docker.io/library/nginx:latest`).

use std::fmt;

use crate::oci::digest::{Digest, shorten};

/// A normalised image reference: registry, repository, and a tag and/or digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    input: String,
    reason: &'static str,
}

impl ReferenceError {
    /// Why, without the input.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

pub(crate) const DOCKER_HUB: &str = "docker.io";

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
        let (registry, repository) = match written_registry(name) {
            Some(first) => (
                canonical_host(first).map_err(err)?,
                name[first.len() + 1..].to_owned(),
            ),
            None => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
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

/// The registry host as written at the start of `image`, if it names one.
/// Docker's rule: a first component with '.', ':' or an upper-case letter,
/// or `localhost`, is a registry host; otherwise the image is on Docker Hub.
pub(crate) fn written_registry(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase()))
    .then_some(first)
}

/// The one spelling of a registry host, so that two spellings of one
/// registry can never choose two policies, credentials or cache entries:
/// lower case; a port as a decimal number without leading zeros, and none
/// when it is HTTPS's default 443; IPv4 only as a dotted quad; IPv6 in its
/// RFC 5952 form, never an IPv4-mapped one; Docker Hub's aliases as
/// `docker.io` (as are `registry.hub.docker.com` and the others
/// that serve Docker Hub's API). A spelling that cannot be made canonical (a trailing dot,
/// a numeric or hex host that is not a dotted quad, port 0 or > 65535,
/// non-ASCII) is an error.
// Over 60 lines: every spelling rule of a host in one place, in the order they apply.
pub(crate) fn canonical_host(host: &str) -> Result<String, &'static str> {
    const MALFORMED: &str = "registry host is malformed";
    if host.is_empty() || host.len() > 255 {
        return Err(MALFORMED);
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(MALFORMED)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(MALFORMED)?),
        };
        let addr: std::net::Ipv6Addr = v6.parse().map_err(|_| MALFORMED)?;
        if addr.to_ipv4_mapped().is_some() {
            return Err("registry host is an IPv4-mapped IPv6 address (write the IPv4 address)");
        }
        (format!("[{addr}]"), port)
    } else {
        let (name, port) = match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        };
        let name = name.to_ascii_lowercase();
        let labels_ok = name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if !labels_ok {
            return Err(MALFORMED);
        }
        // As URL parsers do: a host whose last label is numeric (or hex) is an
        // IPv4 address, and only the dotted-quad spelling of one is accepted.
        let last = name.rsplit('.').next().unwrap_or_default();
        if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
            let addr: std::net::Ipv4Addr = name
                .parse()
                .map_err(|_| "registry host is numeric but not a dotted-quad IPv4 address")?;
            if addr.to_string() != name {
                return Err(MALFORMED);
            }
        }
        (name, port)
    };
    let port = match port {
        None => None,
        Some(p) => {
            // Leading zeros are the same port to Go's dialers (containerd).
            let digits = p.trim_start_matches('0');
            if p.is_empty() || digits.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err("registry port is not a number from 1 to 65535");
            }
            match digits.parse::<u16>() {
                Ok(0) | Err(_) => return Err("registry port is not a number from 1 to 65535"),
                Ok(443) => None,
                Ok(n) => Some(n),
            }
        }
    };
    let canonical = match port {
        Some(p) => format!("{name}:{p}"),
        None => name,
    };
    Ok(match canonical.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_owned()
        }
        _ => canonical,
    })
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
    fn one_registry_has_one_spelling() {
        for (a, b) in [
            ("LOCALHOST:5055/a", "localhost:5055/a"),
            ("Localhost:5055/a", "localhost:5055/a"),
            ("localhost:05055/a", "localhost:5055/a"),
            ("localhost:005055/a", "localhost:5055/a"),
            ("Registry.Example.COM/a", "registry.example.com/a"),
            ("registry.example.com:443/a", "registry.example.com/a"),
            ("registry.example.com:0443/a", "registry.example.com/a"),
            ("[0:0:0:0:0:0:0:1]:5000/a", "[::1]:5000/a"),
            ("[::0001]:5000/a", "[::1]:5000/a"),
            ("[2001:DB8::1]/a", "[2001:db8::1]/a"),
            ("[2001:db8:0:0::1]:443/a", "[2001:db8::1]/a"),
            ("index.docker.io/nginx", "docker.io/library/nginx"),
            ("nginx", "docker.io/library/nginx"),
            ("INDEX.DOCKER.IO/nginx", "docker.io/library/nginx"),
            ("docker.io:443/nginx", "docker.io/library/nginx"),
            (
                "registry.hub.docker.com/library/nginx",
                "docker.io/library/nginx",
            ),
            ("Registry.Hub.Docker.com/nginx", "docker.io/library/nginx"),
            (
                "registry-1.docker.io:443/library/nginx",
                "docker.io/library/nginx",
            ),
            ("127.0.0.1:5000/a", "127.0.0.1:5000/a"),
        ] {
            assert_eq!(Reference::parse(a).unwrap().repo_name(), b, "{a}");
            assert_eq!(Reference::parse(b).unwrap().repo_name(), b, "{b}");
        }
    }

    #[test]
    fn spellings_that_cannot_be_made_canonical_are_refused() {
        for bad in [
            "registry.example.com./a",
            "127.000.000.001:5000/a",
            "127.1:5000/a",
            "2130706433:5000/a",
            "0x7f.0.0.1:5000/a",
            "0x7f000001:5000/a",
            "[::ffff:127.0.0.1]:5000/a",
            "[::1]x/a",
            "localhost:0/a",
            "localhost:65536/a",
            "localhost:+80/a",
            "localhost:/a",
            "r\u{e9}gistry.example.com/a",
            "r_1.example.com/a",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            canonical_host("LOCALHOST:05055"),
            Ok("localhost:5055".into())
        );
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
