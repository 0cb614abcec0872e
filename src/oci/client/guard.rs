//! Where the registry client may send requests besides the registry itself:
//! token realms and redirect targets, which a hostile registry chooses.
//!
//! - Addresses are classed: loopback, link-local, cloud metadata and
//!   unspecified ones are *internal*; everything else (private ranges
//!   included: in-cluster registries live there) is not. Restricting egress
//!   by range is the NetworkPolicy's job (`networkPolicy.registryCIDRs`).
//! - A [`GuardedResolver`] drops internal addresses at resolution, so the
//!   address checked is the address connected to (no DNS rebinding between
//!   check and connect). Requests to hosts a registry names go through a
//!   client that uses it.
//! - `--auth-host REGISTRY=HOST[:PORT]` names a token service on another host
//!   that may receive the registry's credentials (and may be internal).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// What kind of address an IP is, as far as egress goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AddrClass {
    /// Anything routable that is not below (public or private ranges).
    Other,
    Loopback,
    LinkLocal,
    /// Cloud instance metadata services (AWS, GCP, Azure, Alibaba, Oracle …).
    Metadata,
    /// `0.0.0.0/8`, `::`: reach the local host on Linux.
    Unspecified,
}

impl AddrClass {
    pub(crate) fn is_internal(self) -> bool {
        self != AddrClass::Other
    }
}

impl fmt::Display for AddrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrClass::Other => "routable",
            AddrClass::Loopback => "loopback",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Metadata => "metadata",
            AddrClass::Unspecified => "unspecified",
        })
    }
}

/// The class of `ip`; IPv4-mapped, -compatible and NAT64 IPv6 addresses are
/// classed by the IPv4 address they carry.
pub(crate) fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    const METADATA: [Ipv4Addr; 4] = [
        Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, DigitalOcean …
        Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
        Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
        Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
    ];
    if METADATA.contains(&ip) {
        AddrClass::Metadata
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if ip.is_link_local() {
        AddrClass::LinkLocal
    } else if ip.octets()[0] == 0 {
        AddrClass::Unspecified
    } else {
        AddrClass::Other
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    const AWS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    let seg = ip.segments();
    if ip == AWS_V6 {
        return AddrClass::Metadata;
    }
    if ip.is_loopback() {
        return AddrClass::Loopback;
    }
    if ip.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::a.b.c.d (NAT64).
    if seg[..6] == [0; 6] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = seg[6].to_be_bytes();
        let [c, d] = seg[7].to_be_bytes();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    if seg[0] & 0xffc0 == 0xfe80 {
        return AddrClass::LinkLocal;
    }
    AddrClass::Other
}

/// Resolves `host` (a name or an IP literal, no port) to its addresses.
pub(crate) async fn resolve(host: &str) -> std::io::Result<Vec<IpAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    Ok(tokio::net::lookup_host((host, 0))
        .await?
        .map(|a| a.ip())
        .collect())
}

/// The internal class among `addrs` that `allowed` does not admit, if any.
pub(crate) fn forbidden_among(addrs: &[IpAddr], allowed: &[AddrClass]) -> Option<AddrClass> {
    addrs
        .iter()
        .map(|a| classify(*a))
        .find(|c| c.is_internal() && !allowed.contains(c))
}

/// Why a host may not be reached.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to internal addresses (loopback, link-local or metadata)")]
pub(crate) struct InternalOnly {
    host: String,
}

/// A DNS resolver that never returns an internal address: a name that
/// resolves only to such addresses fails to resolve.
#[derive(Debug, Default)]
pub(crate) struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = addrs.filter(|a| !classify(a.ip()).is_internal()).collect();
            if kept.is_empty() {
                return Err(Box::new(InternalOnly { host }) as Box<_>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A token service on another host that may receive a registry's credentials
/// (`--auth-host REGISTRY=HOST[:PORT]`), e.g. `docker.io=auth.docker.io`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthHost {
    /// The registry as written in references (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// `host` or `host:port` of the realm URL.
    pub host: String,
}

/// An `--auth-host` value that is not `REGISTRY=HOST[:PORT]`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error(
    "--auth-host {input:?}: expected REGISTRY=HOST[:PORT], e.g. docker.io=auth.docker.io{}",
    .registry.map(|r| format!(": {r}")).unwrap_or_default()
)]
pub struct AuthHostError {
    input: String,
    /// Why the registry part has no canonical spelling.
    registry: Option<&'static str>,
}

impl AuthHost {
    /// Parses `REGISTRY=HOST[:PORT]`.
    pub fn parse(s: &str) -> Result<Self, AuthHostError> {
        let bad = || AuthHostError {
            input: crate::oci::digest::shorten(s),
            registry: None,
        };
        let (registry, host) = s.split_once('=').ok_or_else(bad)?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 255
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        };
        if !ok(registry) || !ok(host) {
            return Err(bad());
        }
        // The registry in its canonical spelling, as references have it.
        let registry =
            crate::oci::reference::canonical_host(registry).map_err(|reason| AuthHostError {
                registry: Some(reason),
                ..bad()
            })?;
        Ok(AuthHost {
            registry,
            host: host.to_ascii_lowercase(),
        })
    }
}

/// `host` or `host:port` (explicit non-default port only) of `url`, lower case.
pub(crate) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// Same host name, ignoring ports and case.
pub(crate) fn same_host(a: &Url, b: &Url) -> bool {
    match (a.host_str(), b.host_str()) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

/// Same scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && same_host(a, b)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether a redirect from `registry` (the URL first asked) to `target` may be
/// followed, as far as the URLs go: HTTPS only, or plain HTTP to the same
/// insecure registry.
pub(crate) fn redirect_scheme_ok(registry: &Url, target: &Url) -> Result<(), SchemeRefused> {
    match target.scheme() {
        "https" => Ok(()),
        "http" if registry.scheme() == "http" && same_host(registry, target) => Ok(()),
        "http" => Err(SchemeRefused::PlainHttp),
        _ => Err(SchemeRefused::NotHttp),
    }
}

/// Why a redirect's scheme is refused.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemeRefused {
    #[error("a plain-HTTP target")]
    PlainHttp,
    #[error("a target that is not an http(s) URL")]
    NotHttp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> AddrClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classes() {
        assert_eq!(c("169.254.169.254"), AddrClass::Metadata);
        assert_eq!(c("100.100.100.200"), AddrClass::Metadata);
        assert_eq!(c("fd00:ec2::254"), AddrClass::Metadata);
        assert_eq!(c("::ffff:169.254.169.254"), AddrClass::Metadata);
        assert_eq!(c("64:ff9b::a9fe:a9fe"), AddrClass::Metadata);
        assert_eq!(c("127.0.0.1"), AddrClass::Loopback);
        assert_eq!(c("127.8.9.10"), AddrClass::Loopback);
        assert_eq!(c("::1"), AddrClass::Loopback);
        assert_eq!(c("::ffff:127.0.0.1"), AddrClass::Loopback);
        assert_eq!(c("169.254.1.1"), AddrClass::LinkLocal);
        assert_eq!(c("fe80::1"), AddrClass::LinkLocal);
        assert_eq!(c("0.0.0.0"), AddrClass::Unspecified);
        assert_eq!(c("::"), AddrClass::Unspecified);
        for other in [
            "10.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "2001:db8::1",
            "fd12::1",
        ] {
            assert_eq!(c(other), AddrClass::Other, "{other}");
        }
    }

    #[test]
    fn forbidden_unless_allowed() {
        let ips: Vec<IpAddr> = vec!["10.1.2.3".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        assert_eq!(forbidden_among(&ips, &[]), Some(AddrClass::Loopback));
        assert_eq!(forbidden_among(&ips, &[AddrClass::Loopback]), None);
        let meta: Vec<IpAddr> = vec!["169.254.169.254".parse().unwrap()];
        // A loopback registry does not open the metadata service.
        assert_eq!(
            forbidden_among(&meta, &[AddrClass::Loopback]),
            Some(AddrClass::Metadata)
        );
    }

    #[test]
    fn auth_hosts() {
        assert_eq!(
            AuthHost::parse("docker.io=Auth.Docker.io").unwrap(),
            AuthHost {
                registry: "docker.io".into(),
                host: "auth.docker.io".into()
            }
        );
        assert!(AuthHost::parse("localhost:5000=127.0.0.1:8080").is_ok());
        for bad in [
            "auth.docker.io",
            "=x",
            "x=",
            "x=https://y/",
            "x=y/z",
            "a=b c",
        ] {
            let e = AuthHost::parse(bad).unwrap_err();
            assert!(e.to_string().contains("REGISTRY=HOST"), "{e}");
        }
    }

    #[test]
    fn redirect_schemes() {
        let https: Url = "https://reg.example/v2/a/blobs/x".parse().unwrap();
        let plain: Url = "http://reg.example:5000/v2/a/blobs/x".parse().unwrap();
        let ok = |from: &Url, to: &str| redirect_scheme_ok(from, &to.parse().unwrap());
        assert!(ok(&https, "https://cdn.example/x").is_ok());
        assert!(ok(&https, "http://cdn.example/x").is_err());
        assert!(ok(&https, "http://reg.example/x").is_err());
        assert!(ok(&plain, "http://reg.example:5000/other").is_ok());
        assert!(ok(&plain, "http://cdn.example/x").is_err());
        assert!(ok(&plain, "https://cdn.example/x").is_ok());
        assert!(ok(&https, "file:///etc/passwd").is_err());
    }

    #[tokio::test]
    async fn guarded_resolver_drops_internal_addresses() {
        use reqwest::dns::Resolve;
        let r = GuardedResolver;
        let e = r
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost resolves only to loopback");
        assert!(e.to_string().contains("internal"), "{e}");
    }
}
