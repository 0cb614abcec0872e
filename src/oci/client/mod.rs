//! The OCI distribution client: resolve, fetch (bounded and digest-checked),
//! referrers (API, then the tag fallback), push, and auth.
//!
//! Built on reqwest rather than oci-client so that every body is read under a
//! size bound as it streams, the referrers fallback happens only on the "no
//! API" answers (404/400/405, never 401/403/429/5xx), and each request is one
//! visible round trip. Every manifest and blob is checked against its digest
//! before use; nothing a registry says about a digest is taken on trust.

mod answer;
pub(crate) mod auth;
mod error;
pub(crate) mod guard;
mod model;
mod push;
pub(crate) mod read;
mod redirect;
mod send;
mod token_flow;
pub(crate) mod tokens;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use crate::oci::digest::{Digest, shorten};
use crate::oci::reference::Reference;
pub(crate) use answer::MAX_REFERRERS_INDEX;
use answer::{
    header_str, one_line, outbound_permit, read_blob, read_body, read_manifest, status_error,
    transport_reason,
};
pub use auth::{Credentials, DockerConfig, DockerConfigError};
use error::redact;
pub use error::{ClientSetupError, RegistryError};
pub use guard::{AuthHost, AuthHostError};
pub use model::*;
pub(crate) use read::RegistryRead;
pub use tokens::AuthStore;

/// Told about every request a registry client makes (for metrics).
pub trait RequestObserver: Send + Sync {
    /// `status` is `None` when no answer came (connection error, timeout).
    fn observe(&self, host: &str, status: Option<u16>, elapsed: Duration);
}

/// How to reach registries.
#[derive(Clone)]
pub struct RegistryOptions {
    /// Plain HTTP for every registry.
    pub insecure_all: bool,
    /// Plain HTTP for these hosts (`localhost:5000`).
    pub insecure_hosts: Vec<String>,
    /// Extra CA certificates (PEM) to trust for HTTPS registries.
    pub ca_file: Option<PathBuf>,
    pub credentials: Credentials,
    /// Bound on one whole request, body included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub observer: Option<std::sync::Arc<dyn RequestObserver>>,
    /// Token services on other hosts that may receive a registry's
    /// credentials (and be internal addresses).
    pub auth_hosts: Vec<AuthHost>,
    /// Tokens and Basic marks, shared by every client made from these
    /// options (clones share it): one bound for all.
    pub auth_store: Arc<AuthStore>,
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("insecure_all", &self.insecure_all)
            .field("insecure_hosts", &self.insecure_hosts)
            .field("ca_file", &self.ca_file)
            .field("request_timeout", &self.request_timeout)
            .field("auth_hosts", &self.auth_hosts)
            .field("auth_store", &self.auth_store)
            .finish_non_exhaustive()
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_all: false,
            insecure_hosts: Vec::new(),
            ca_file: None,
            credentials: Credentials::anonymous(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            observer: None,
            auth_hosts: Vec::new(),
            auth_store: Arc::new(AuthStore::default()),
        }
    }
}

/// An OCI distribution client.
pub struct Registry {
    /// For the registry itself and hosts trusted for it (`--auth-host`).
    http: reqwest::Client,
    /// For hosts a registry names (token realms, redirect targets): never
    /// connects to an internal address. Built when first needed.
    guarded: OnceLock<reqwest::Client>,
    options: RegistryOptions,
    /// This client's key in the shared [`AuthStore`].
    id: u64,
}

/// The access a request needs, for token scopes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    Push,
}

impl Registry {
    pub fn new(mut options: RegistryOptions) -> Result<Self, ClientSetupError> {
        // Insecure hosts are compared with references' canonical registries.
        options.insecure_hosts = options
            .insecure_hosts
            .iter()
            .map(|h| {
                crate::oci::reference::canonical_host(h).map_err(|reason| {
                    ClientSetupError::InsecureRegistry {
                        host: crate::oci::digest::shorten(h),
                        reason,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        let http = Self::client(&options, false)?;
        let id = options.auth_store.client_id();
        Ok(Registry {
            http,
            guarded: OnceLock::new(),
            options,
            id,
        })
    }

    /// The same client presenting `credentials` instead: HTTP clients and
    /// connection pools are shared (they do not depend on credentials); tokens
    /// are not (a new key in the [`AuthStore`]).
    pub fn with_credentials(&self, credentials: Credentials) -> Registry {
        let guarded = OnceLock::new();
        if let Some(c) = self.guarded.get() {
            let _ = guarded.set(c.clone());
        }
        let mut options = self.options.clone();
        options.credentials = credentials;
        Registry {
            http: self.http.clone(),
            guarded,
            id: options.auth_store.client_id(),
            options,
        }
    }

    /// A client for `options`; `guarded` ones never connect to internal
    /// addresses. Redirects are never followed by reqwest: see
    /// [`Self::get_content`].
    fn client(
        options: &RegistryOptions,
        guarded: bool,
    ) -> Result<reqwest::Client, ClientSetupError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("nv2/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .read_timeout(options.request_timeout)
            // Pod specs choose the hosts: idle connections are few per host
            // and short-lived, so thousands of hosts do not pin thousands of
            // file descriptors.
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if guarded {
            builder = builder.dns_resolver(Arc::new(guard::GuardedResolver));
        }
        if let Some(path) = &options.ca_file {
            let ca_error = |reason: String| ClientSetupError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = crate::io::read_config(path, crate::io::MAX_CERT_FILE)
                .map_err(|e| ca_error(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no certificate".into()));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        builder
            .build()
            .map_err(|e| ClientSetupError::Http(e.to_string()))
    }

    /// The client for hosts a registry names.
    fn guarded(&self) -> Result<&reqwest::Client, ClientSetupError> {
        if let Some(c) = self.guarded.get() {
            return Ok(c);
        }
        let c = Self::client(&self.options, true)?;
        Ok(self.guarded.get_or_init(|| c))
    }

    /// Whether `r`'s registry is reached over plain HTTP.
    fn plain(&self, r: &Reference) -> bool {
        self.options.insecure_all
            || self
                .options
                .insecure_hosts
                .iter()
                .any(|h| h == r.registry())
    }

    fn base_url(&self, r: &Reference) -> String {
        let host = r.api_host();
        format!(
            "{}://{host}/v2/{}",
            if self.plain(r) { "http" } else { "https" },
            r.repository()
        )
    }

    /// Fetches a manifest by tag or digest. The digest is computed from the
    /// bytes; a digest reference, or a `Docker-Content-Digest` header, that
    /// disagrees is an error.
    pub async fn get_manifest(&self, r: &Reference) -> Result<Manifest, RegistryError> {
        self.get_manifest_within(r, MAX_MANIFEST).await
    }

    /// As [`Registry::get_manifest`], reading at most `limit` bytes.
    pub async fn get_manifest_within(
        &self,
        r: &Reference,
        limit: u64,
    ) -> Result<Manifest, RegistryError> {
        let what = format!("manifest {r}");
        let url = format!("{}/manifests/{}", self.base_url(r), r.tag_or_digest());
        let _permit = outbound_permit(&what).await?;
        let fetched = self
            .get_content(r, &url, Some(MANIFEST_ACCEPT), &what)
            .await?;
        let elsewhere = fetched.elsewhere;
        let mut result = read_manifest(r, fetched.resp, what.clone(), limit).await;
        // From another host, only a manifest is an answer: anything else (an
        // internal service's page) must not even lend its digest to a message.
        if elsewhere.is_some()
            && result.as_ref().is_ok_and(|m| {
                ![
                    OCI_MANIFEST,
                    OCI_INDEX,
                    DOCKER_MANIFEST,
                    DOCKER_MANIFEST_LIST,
                ]
                .contains(&m.media_type.as_str())
            })
        {
            result = Err(RegistryError::Invalid {
                what,
                reason: "not a manifest".into(),
            });
        }
        redact(result, elsewhere)
    }

    /// Fetches the blob `desc` names from `r`'s repository, refusing it
    /// unread when its declared size is over `limit`, and checking it
    /// against its digest and size.
    pub async fn get_blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {}", shorten(&desc.digest));
        let digest = Digest::parse(&desc.digest).map_err(|e| RegistryError::Invalid {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        if desc.size > limit {
            return Err(RegistryError::TooLarge { what, limit });
        }
        if let Some(embedded) = desc.embedded() {
            return embedded.map_err(|e| RegistryError::Invalid {
                what,
                reason: e.to_string(),
            });
        }
        let url = format!("{}/blobs/{}", self.base_url(r), digest);
        let _permit = outbound_permit(&what).await?;
        let fetched = self.get_content(r, &url, None, &what).await?;
        let elsewhere = fetched.elsewhere;
        redact(
            read_blob(fetched.resp, desc.size, &digest, what).await,
            elsewhere,
        )
    }

    /// The referrers of `subject` in `r`'s repository with `artifact_type`:
    /// the referrers API, or on a registry without it (404, 400, 405) the
    /// `sha256-<hex>` tag index. Any other failure is an error, never "none".
    pub async fn referrers(
        &self,
        r: &Reference,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Referrers, RegistryError> {
        let what = format!("referrers of {}@{subject}", r.repo_name());
        let url = format!(
            "{}/referrers/{subject}?artifactType={}",
            self.base_url(r),
            encode_query(artifact_type)
        );
        let permit = outbound_permit(&what).await?;
        let resp = self
            .send(
                r,
                Access::Pull,
                Method::GET,
                &url,
                Some(OCI_INDEX),
                None,
                &what,
            )
            .await?;
        let index_bytes = match resp.status() {
            StatusCode::OK => read_body(resp, MAX_REFERRERS_INDEX, &what).await?,
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED => {
                // The fallback takes a permit of its own.
                drop(permit);
                match self
                    .get_manifest_within(&referrers_tag(r, subject), MAX_REFERRERS_INDEX)
                    .await
                {
                    Ok(m) => m.bytes,
                    Err(RegistryError::NotFound { .. }) => return Ok(Referrers::default()),
                    Err(e) => return Err(e),
                }
            }
            _ => return Err(status_error(resp, &what).await),
        };
        let index: Index =
            serde_json::from_slice(&index_bytes).map_err(|e| RegistryError::Invalid {
                what: what.clone(),
                reason: format!("not an OCI index: {}", one_line(e)),
            })?;
        Ok(select_referrers(index.manifests, artifact_type))
    }
}

/// `repository:<repo>:pull`.
fn pull_scope(r: &Reference) -> String {
    format!("repository:{}:pull", r.repository())
}

/// Idle connections kept per registry host, and for how long.
const MAX_IDLE_PER_HOST: usize = 2;
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Percent-encodes a query value.
fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
