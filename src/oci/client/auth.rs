//! Registry credentials and the two challenge flows of the distribution spec:
//! Basic, and Bearer tokens from the realm named in `WWW-Authenticate`.
//!
//! Credentials come from, in order: `-u/-p` (or `NV2_USERNAME`/`NV2_PASSWORD`),
//! then Docker's `config.json` (`auths` entries, `credHelpers`, `credsStore`).
//! Secrets are never logged or put in error messages.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::text::one_line;

/// A username and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Basic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Basic({}, ***)", self.username)
    }
}

impl Basic {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        format!(
            "Basic {}",
            B64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// Where credentials for a host come from.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Used for every host (the CLI talks to one registry at a time).
    explicit: Option<Basic>,
    /// Searched in order; the first with an entry for the host wins.
    docker: Vec<DockerConfig>,
}

impl Credentials {
    /// No credentials: anonymous access only.
    pub fn anonymous() -> Self {
        Credentials::default()
    }

    /// Explicit credentials for every host.
    pub fn explicit(username: String, password: String) -> Self {
        Credentials {
            explicit: Some(Basic { username, password }),
            docker: Vec::new(),
        }
    }

    /// Adds a Docker config file as a fallback source.
    pub fn with_docker_config(mut self, config: DockerConfig) -> Self {
        self.docker.push(config);
        self
    }

    /// Workload credentials first (a pod's pull secrets), then these.
    pub fn layered_under(&self, workload: Vec<DockerConfig>) -> Self {
        let mut docker = workload;
        docker.extend(self.docker.iter().cloned());
        Credentials {
            explicit: self.explicit.clone(),
            docker,
        }
    }

    /// Credentials for registry `host` (as written in references, e.g. `docker.io`).
    pub fn for_host(&self, host: &str) -> Option<Basic> {
        if let Some(b) = &self.explicit {
            return Some(b.clone());
        }
        self.docker.iter().find_map(|d| d.for_host(host))
    }
}

/// Docker's `config.json`, as far as registry credentials go.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    /// Credential helpers run only for the user's own config file, never for
    /// configs that came from elsewhere (a tenant's pull secret).
    #[serde(skip)]
    helpers_allowed: bool,
}

#[derive(Clone, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(rename = "identitytoken")]
    identity_token: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(***)")
    }
}

/// Why a Docker config (file or pull secret) cannot be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DockerConfigError {
    #[error("docker config {path}: {reason}")]
    File { path: String, reason: String },
    #[error("dockercfg: {0}")]
    Dockercfg(String),
    #[error("docker config: {0}")]
    Json(String),
}

impl DockerConfig {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, DockerConfigError> {
        let file_error = |reason: String| DockerConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        match crate::io::read_config(path, 1 << 20) {
            Ok(bytes) => serde_json::from_slice::<DockerConfig>(&bytes)
                .map(|mut config| {
                    // The user's own file: its credential helpers may run.
                    config.helpers_allowed = true;
                    config
                })
                .map_err(|e| file_error(one_line(&e))),
            Err(crate::io::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(DockerConfig::default())
            }
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
    }

    /// The legacy `.dockercfg` form: the `auths` map alone.
    pub fn from_dockercfg(bytes: &[u8]) -> Result<Self, DockerConfigError> {
        let auths = serde_json::from_slice(bytes)
            .map_err(|e| DockerConfigError::Dockercfg(one_line(&e)))?;
        Ok(DockerConfig {
            auths,
            ..DockerConfig::default()
        })
    }

    /// Parses config JSON from memory (a pull secret); credential helpers are not run for it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DockerConfigError> {
        serde_json::from_slice(bytes).map_err(|e| DockerConfigError::Json(one_line(&e)))
    }

    /// Roughly the bytes this config holds (for cache weights).
    pub fn approx_size(&self) -> usize {
        let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
        let auths: usize = self
            .auths
            .iter()
            .map(|(k, e)| {
                k.len()
                    + opt(&e.auth)
                    + opt(&e.username)
                    + opt(&e.password)
                    + opt(&e.identity_token)
                    + 64
            })
            .sum();
        let helpers: usize = self
            .cred_helpers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 32)
            .sum();
        auths + helpers + opt(&self.creds_store) + 64
    }

    /// Credentials for `host`: an `auths` entry (keys may be URLs), a
    /// credential helper for the host, or the default store.
    pub fn for_host(&self, host: &str) -> Option<Basic> {
        if let Some(b) = entries_for_host(&self.auths, host).find_map(AuthEntry::basic) {
            return Some(b);
        }
        if !self.helpers_allowed {
            return None;
        }
        let helper = entries_for_host(&self.cred_helpers, host)
            .next()
            .or(self.creds_store.as_ref())?;
        run_helper(helper, host)
    }
}

impl AuthEntry {
    fn basic(&self) -> Option<Basic> {
        if let Some(auth) = &self.auth {
            let decoded = B64.decode(auth.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (u, p) = text.split_once(':')?;
            return Some(Basic {
                username: u.to_owned(),
                password: p.to_owned(),
            });
        }
        if let Some(token) = &self.identity_token {
            return Some(Basic {
                username: "<token>".into(),
                password: token.clone(),
            });
        }
        Some(Basic {
            username: self.username.clone()?,
            password: self.password.clone()?,
        })
    }
}

/// The values of `map` whose keys name `host`, keys that spell the same host
/// taken in a fixed (sorted) order.
fn entries_for_host<'a, V>(
    map: &'a HashMap<String, V>,
    host: &str,
) -> impl Iterator<Item = &'a V> + use<'a, V> {
    let mut entries: Vec<(&String, &V)> = map
        .iter()
        .filter(|(key, _)| normalise_key(key) == host)
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter().map(|(_, v)| v)
}

/// `https://index.docker.io/v1/` → `docker.io`: a config key's host in its
/// canonical spelling ([`crate::oci::reference::canonical_host`]), so that any
/// spelling of a registry finds its credentials and no other's.
fn normalise_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    crate::oci::reference::canonical_host(host).unwrap_or_else(|_| host.to_ascii_lowercase())
}

/// Runs `docker-credential-<helper> get`, if it is on PATH.
fn run_helper(helper: &str, host: &str) -> Option<Basic> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(host.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    #[derive(Deserialize)]
    struct HelperOut {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let parsed: HelperOut = serde_json::from_slice(&out.stdout).ok()?;
    Some(Basic {
        username: parsed.username,
        password: parsed.secret,
    })
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `a="x, y",b=z` → {a: "x, y", b: "z"}; quoted values may contain commas.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_owned(), &q[end + 1..]),
                None => (q.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_owned(), &after[end..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        out.insert(key, value);
        rest = remaining.trim_start_matches([',', ' ']);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn docker_config_entries() {
        let cfg = DockerConfig::from_json(
            br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"localhost:5000":{"username":"a","password":"s3cret"}}}"#,
        )
        .unwrap();
        assert_eq!(cfg.for_host("docker.io").unwrap().username, "u");
        assert_eq!(cfg.for_host("localhost:5000").unwrap().password, "s3cret");
        assert!(cfg.for_host("ghcr.io").is_none());
        assert!(!format!("{:?}", cfg.for_host("localhost:5000")).contains("s3cret"));
    }

    #[test]
    fn only_the_users_own_config_may_run_helpers() {
        let tenant = DockerConfig::from_json(br#"{"credsStore":"desktop"}"#).unwrap();
        assert!(!tenant.helpers_allowed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, br#"{"credsStore":"desktop"}"#).unwrap();
        assert!(DockerConfig::load(&path).unwrap().helpers_allowed);
        assert!(DockerConfig::from_dockercfg(br#"{}"#).is_ok_and(|c| !c.helpers_allowed));
    }
}
