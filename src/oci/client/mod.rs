//! The OCI distribution client: resolve, fetch (bounded and digest-checked),
//! referrers (API, then the tag fallback), push, and auth.
//!
//! Built on reqwest rather than oci-client so that every body is read under a
//! size bound as it streams, the referrers fallback happens only on the "no
//! API" answers (404/400/405, never 401/403/429/5xx), and each request is one
//! visible round trip. Every manifest and blob is checked against its digest
//! before use; nothing a registry says about a digest is taken on trust.

pub mod auth;
pub mod guard;
pub mod read;
pub mod tokens;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::oci::digest::{Digest, shorten};
use crate::oci::reference::Reference;
pub use auth::{Credentials, DockerConfig};
pub use guard::AuthHost;
pub use read::RegistryRead;
pub use tokens::AuthStore;

/// Manifests larger than this are refused (DESIGN §4).
pub const MAX_MANIFEST: u64 = crate::io::MAX_MANIFEST;
/// Signature blobs larger than this are refused (DESIGN §4).
pub const MAX_SIGNATURE_BLOB: u64 = crate::io::MAX_SIGNATURE_FILE;
/// At most this many referrers are considered.
pub const MAX_REFERRERS: usize = 100;
/// Error bodies and token responses are read up to this size.
const MAX_SMALL_BODY: u64 = 64 << 10;
/// Redirects followed for one manifest or blob GET.
pub const MAX_REDIRECTS: usize = 5;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest type nv2 resolves targets as.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

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

impl Descriptor {
    /// The embedded content, if present and true to the descriptor.
    pub fn embedded(&self) -> Option<Result<Vec<u8>, String>> {
        let data = self.data.as_ref()?;
        Some(
            crate::signature::envelope::decode_base64(data)
                .map_err(|e| {
                    format!(
                        "embedded data of {} is not base64: {e}",
                        shorten(&self.digest)
                    )
                })
                .and_then(|bytes| {
                    let digest = Digest::parse(&self.digest).map_err(|e| e.to_string())?;
                    if bytes.len() as u64 != self.size || !digest.matches(&bytes) {
                        return Err(format!("embedded data does not match {digest}"));
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

/// Why a registry operation failed. Always one line, never a secret.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    #[error("{what}: cannot reach the registry: {reason}")]
    Transport { what: String, reason: String },
    #[error("{what}: registry answered {status}{message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: not found")]
    NotFound { what: String },
    #[error("{what}: larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: content does not match its digest (expected {expected}, got {got})")]
    DigestMismatch {
        what: String,
        expected: String,
        got: String,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what}: authentication failed: {reason}")]
    Auth { what: String, reason: String },
    #[error("{what}: redirect refused: the registry redirected to {reason}")]
    Redirect { what: String, reason: String },
    /// What a redirect target answered is not told: it may be an internal
    /// service whose status, errors or content digest are not the pod
    /// author's to learn.
    #[error("{what}: redirected to {host}, which gave no usable answer")]
    Redirected { what: String, host: String },
}

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

/// Result of a manifest upload.
#[derive(Clone, Debug)]
pub struct PutManifest {
    pub digest: Digest,
    /// The registry processed `subject` itself (OCI 1.1 `OCI-Subject` header).
    pub subject_handled: bool,
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

/// A response, and the host it came from when a redirect led elsewhere.
struct Fetched {
    resp: reqwest::Response,
    elsewhere: Option<String>,
}

/// The access a request needs, for token scopes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    Push,
}

impl Registry {
    pub fn new(mut options: RegistryOptions) -> Result<Self, String> {
        // Insecure hosts are compared with references' canonical registries.
        options.insecure_hosts = options
            .insecure_hosts
            .iter()
            .map(|h| {
                crate::oci::reference::canonical_host(h).map_err(|e| {
                    format!(
                        "insecure registry {:?}: {e}",
                        crate::oci::digest::shorten(h)
                    )
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
    fn client(options: &RegistryOptions, guarded: bool) -> Result<reqwest::Client, String> {
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
            let pem = crate::io::read_bounded(path, crate::io::MAX_CERT_FILE)
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("CA file {}: no certificate", path.display()));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        builder.build().map_err(|e| format!("HTTP client: {e}"))
    }

    /// The client for hosts a registry names.
    fn guarded(&self) -> Result<&reqwest::Client, String> {
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
            return embedded.map_err(|reason| RegistryError::Invalid { what, reason });
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

    /// A manifest or blob GET, following up to [`MAX_REDIRECTS`] redirects:
    /// only to HTTPS (or plain HTTP on the same insecure registry host), never
    /// to an internal address unless the registry itself has one of that
    /// class, and with `Authorization` only on the registry's own origin.
    async fn get_content(
        &self,
        r: &Reference,
        url: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<Fetched, RegistryError> {
        let mut resp = self
            .send(r, Access::Pull, Method::GET, url, accept, None, what)
            .await?;
        let refuse = |reason: String| RegistryError::Redirect {
            what: what.to_owned(),
            reason,
        };
        let origin = Url::parse(url).map_err(|e| RegistryError::Invalid {
            what: what.to_owned(),
            reason: format!("bad URL: {e}"),
        })?;
        let mut current = origin.clone();
        let mut elsewhere = None;
        // The registry's own internal address classes, looked up once.
        let mut own: Option<Vec<guard::AddrClass>> = None;
        for hop in 0..=MAX_REDIRECTS {
            if !resp.status().is_redirection() {
                return Ok(Fetched { resp, elsewhere });
            }
            let Some(location) = header_str(resp.headers(), LOCATION.as_str()) else {
                return Ok(Fetched { resp, elsewhere });
            };
            if hop == MAX_REDIRECTS {
                break;
            }
            let target = current
                .join(&location)
                .map_err(|_| refuse("an unreadable Location".into()))?;
            let shown = guard::host_port(&target);
            guard::redirect_scheme_ok(&origin, &target)
                .map_err(|e| refuse(format!("{e} ({})", shorten(&shown))))?;
            let same = guard::same_origin(&origin, &target);
            let client = if same {
                &self.http
            } else {
                let host = target.host_str().unwrap_or_default();
                let addrs = guard::resolve(host)
                    .await
                    .ok()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| RegistryError::Redirected {
                        what: what.to_owned(),
                        host: shorten(&shown),
                    })?;
                let own = match &own {
                    Some(c) => c,
                    None => {
                        let addrs = guard::resolve(origin.host_str().unwrap_or_default())
                            .await
                            .unwrap_or_default();
                        let mut classes: Vec<_> = addrs
                            .into_iter()
                            .map(guard::classify)
                            .filter(|c| c.is_internal())
                            .collect();
                        classes.dedup();
                        own.insert(classes)
                    }
                };
                if let Some(class) = guard::forbidden_among(&addrs, own) {
                    return Err(refuse(format!("{}, a {class} address", shorten(&shown))));
                }
                // Off the registry's origin, the target's name is resolved
                // again at connect time: the guarded client keeps that from
                // turning internal, unless the registry itself is internal.
                if own.is_empty() {
                    self.guarded().map_err(|reason| RegistryError::Invalid {
                        what: what.to_owned(),
                        reason,
                    })?
                } else {
                    &self.http
                }
            };
            let mut req = client.get(target.clone());
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if same && let Some(auth) = self.auth_header(r.registry(), &pull_scope(r), false) {
                req = req.header(AUTHORIZATION, auth);
            }
            let started = std::time::Instant::now();
            let sent = req.send().await;
            if let Some(obs) = &self.options.observer {
                obs.observe(
                    r.registry(),
                    sent.as_ref().ok().map(|r| r.status().as_u16()),
                    started.elapsed(),
                );
            }
            resp = match sent {
                Ok(resp) => resp,
                Err(e) if same => {
                    return Err(RegistryError::Transport {
                        what: what.to_owned(),
                        reason: transport_reason(&e),
                    });
                }
                Err(e) => {
                    tracing::debug!(%what, target = %shown, error = %transport_reason(&e), "redirect target unreachable");
                    return Err(RegistryError::Redirected {
                        what: what.to_owned(),
                        host: shorten(&shown),
                    });
                }
            };
            elsewhere = (!same).then(|| shorten(&shown));
            current = target;
        }
        Err(refuse(format!("more than {MAX_REDIRECTS} times")))
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

    /// Uploads a blob to `r`'s repository unless it is already there.
    pub async fn push_blob(&self, r: &Reference, bytes: &[u8]) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let what = format!("blob {digest}");
        let base = self.base_url(r);
        let head = self
            .send(
                r,
                Access::Push,
                Method::HEAD,
                &format!("{base}/blobs/{digest}"),
                None,
                None,
                &what,
            )
            .await?;
        if head.status() == StatusCode::OK {
            return Ok(digest);
        }
        let start = self
            .send(
                r,
                Access::Push,
                Method::POST,
                &format!("{base}/blobs/uploads/"),
                None,
                Some(Vec::new()),
                &what,
            )
            .await?;
        if start.status() != StatusCode::ACCEPTED {
            return Err(status_error(start, &what).await);
        }
        let location = header_str(start.headers(), LOCATION.as_str()).ok_or_else(|| {
            RegistryError::Invalid {
                what: what.clone(),
                reason: "upload started without a Location".into(),
            }
        })?;
        // The upload goes where the registry says, with its credentials: on
        // its own origin only (the same rule as for redirects).
        let base_url = Url::parse(&base).map_err(|e| RegistryError::Invalid {
            what: what.clone(),
            reason: format!("bad URL: {e}"),
        })?;
        let mut upload = base_url
            .join(&location)
            .ok()
            .filter(|u| guard::same_origin(u, &base_url))
            .ok_or_else(|| RegistryError::Invalid {
                what: what.clone(),
                reason: format!(
                    "upload location {:?} is not on the registry's own origin; refused",
                    shorten(&location)
                ),
            })?;
        upload
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let upload = upload.to_string();
        let done = self
            .send(
                r,
                Access::Push,
                Method::PUT,
                &upload,
                None,
                Some(bytes.to_vec()),
                &what,
            )
            .await?;
        if done.status() != StatusCode::CREATED {
            return Err(status_error(done, &what).await);
        }
        Ok(digest)
    }

    /// Uploads manifest `bytes` to `r`'s repository under `tag_or_digest`.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        tag_or_digest: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<PutManifest, RegistryError> {
        let digest = Digest::of(&bytes);
        let what = format!("manifest {}:{}", r.repo_name(), tag_or_digest);
        let url = format!("{}/manifests/{tag_or_digest}", self.base_url(r));
        let resp = self
            .send_typed(r, Method::PUT, &url, media_type, bytes, &what)
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(resp, &what).await);
        }
        if let Some(h) = header_str(resp.headers(), "docker-content-digest")
            && h != digest.as_str()
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest.to_string(),
                got: h,
            });
        }
        Ok(PutManifest {
            subject_handled: resp.headers().contains_key("oci-subject"),
            digest,
        })
    }

    async fn send_typed(
        &self,
        r: &Reference,
        method: Method,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_inner(
            r,
            Access::Push,
            method,
            url,
            None,
            Some((content_type, body)),
            what,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        r: &Reference,
        access: Access,
        method: Method,
        url: &str,
        accept: Option<&str>,
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let body = body.map(|b| ("application/octet-stream", b));
        self.send_inner(r, access, method, url, accept, body, what)
            .await
    }

    /// Sends one request, answering one auth challenge if the registry
    /// poses it (then the request is sent again, once).
    #[allow(clippy::too_many_arguments)]
    async fn send_inner(
        &self,
        r: &Reference,
        access: Access,
        method: Method,
        url: &str,
        accept: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let host = r.registry().to_owned();
        let scope = match access {
            Access::Push => format!("repository:{}:pull,push", r.repository()),
            Access::Pull => pull_scope(r),
        };
        // What the challenge just granted, used even if the store did not keep it.
        let mut granted: Option<HeaderValue> = None;
        for attempt in 0..2 {
            let mut req = self.http.request(method.clone(), url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if let Some((ct, b)) = &body {
                req = req.header(CONTENT_TYPE, *ct).body(b.clone());
            }
            if let Some(auth) = granted
                .clone()
                .or_else(|| self.auth_header(&host, &scope, false))
            {
                req = req.header(AUTHORIZATION, auth);
            }
            let started = std::time::Instant::now();
            let sent = req.send().await;
            if let Some(obs) = &self.options.observer {
                obs.observe(
                    &host,
                    sent.as_ref().ok().map(|r| r.status().as_u16()),
                    started.elapsed(),
                );
            }
            let resp = sent.map_err(|e| RegistryError::Transport {
                what: what.to_owned(),
                reason: transport_reason(&e),
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                if resp.status() == StatusCode::UNAUTHORIZED {
                    return Err(RegistryError::Auth {
                        what: what.to_owned(),
                        reason: "the registry refused the credentials".into(),
                    });
                }
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(auth::parse_challenge);
            match challenge {
                Some(auth::Challenge::Basic) => {
                    if self.options.credentials.for_host(&host).is_none() {
                        return Err(RegistryError::Auth {
                            what: what.to_owned(),
                            reason: "the registry requires credentials (use -u/-p or docker login)"
                                .into(),
                        });
                    }
                    self.options.auth_store.basic(self.id, &host);
                    granted = self.auth_header(&host, &scope, true);
                }
                Some(auth::Challenge::Bearer {
                    realm,
                    service,
                    scope: asked,
                }) => {
                    let token_scope = asked.unwrap_or_else(|| scope.clone());
                    let (token, ttl) = self
                        .fetch_token(r, &realm, service.as_deref(), &token_scope, what)
                        .await?;
                    granted = Some(token.clone());
                    self.options
                        .auth_store
                        .bearer(self.id, &host, &scope, token, ttl);
                }
                None => {
                    return Err(RegistryError::Auth {
                        what: what.to_owned(),
                        reason: "401 without a usable WWW-Authenticate challenge".into(),
                    });
                }
            }
        }
        Err(RegistryError::Auth {
            what: what.to_owned(),
            reason: "authentication did not complete".into(),
        })
    }

    /// The `Authorization` value for `host` and `scope`: a held token, or
    /// Basic credentials when the host asked for them (or `basic` says so).
    fn auth_header(&self, host: &str, scope: &str, basic: bool) -> Option<HeaderValue> {
        let store = &self.options.auth_store;
        if let Some(tokens::Grant::Bearer(value)) = store.get(self.id, host, scope) {
            return Some(value);
        }
        if basic || matches!(store.get(self.id, host, ""), Some(tokens::Grant::Basic)) {
            let mut value =
                HeaderValue::from_str(&self.options.credentials.for_host(host)?.header()).ok()?;
            value.set_sensitive(true);
            return Some(value);
        }
        None
    }

    /// The Bearer token flow: GET realm?service=…&scope=…, and the token's
    /// lifetime (`expires_in`, else 60 s). The realm is the registry's
    /// choice, so:
    /// - it must be HTTPS when the registry is;
    /// - the registry's credentials go with the request only when the realm
    ///   is on the registry's own host, or on one `--auth-host` names for it;
    /// - a realm on any other host may not be an internal address (checked
    ///   at connect time by the guarded client);
    /// - the answer goes to the registry that asked, and nowhere else.
    async fn fetch_token(
        &self,
        r: &Reference,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        what: &str,
    ) -> Result<(HeaderValue, Duration), RegistryError> {
        let host = r.registry();
        let auth_err = |reason: String| RegistryError::Auth {
            what: what.to_owned(),
            reason,
        };
        let realm_url = Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
            .ok_or_else(|| {
                auth_err(format!(
                    "token realm {:?} is not an http(s) URL",
                    shorten(realm)
                ))
            })?;
        let realm_host = guard::host_port(&realm_url);
        let shown = shorten(&realm_host);
        if realm_url.scheme() == "http" && !self.plain(r) {
            return Err(auth_err(format!(
                "token realm {shown} is plain HTTP for an HTTPS registry; refused"
            )));
        }
        let registry_url = Url::parse(&self.base_url(r)).map_err(|e| RegistryError::Invalid {
            what: what.to_owned(),
            reason: format!("bad URL: {e}"),
        })?;
        // The registry's own host name, any port: the credentials sent are
        // the ones configured for this host (a realm elsewhere needs --auth-host).
        let own_host = guard::same_host(&realm_url, &registry_url);
        let api_host = guard::host_port(&registry_url);
        let configured = self.options.auth_hosts.iter().any(|a| {
            (a.registry.eq_ignore_ascii_case(host) || a.registry == api_host)
                && a.host == realm_host
        });
        let client = if own_host || configured {
            &self.http
        } else {
            let addrs = guard::resolve(realm_url.host_str().unwrap_or_default())
                .await
                .unwrap_or_default();
            if let Some(class) = guard::forbidden_among(&addrs, &[]) {
                return Err(auth_err(format!(
                    "token realm {shown} is a {class} address; refused (a token service on another host must be named with --auth-host {host}={realm_host})"
                )));
            }
            self.guarded().map_err(auth_err)?
        };
        let mut url = realm_url;
        url.query_pairs_mut().append_pair("scope", scope);
        if let Some(s) = service {
            url.query_pairs_mut().append_pair("service", s);
        }
        let mut req = client.get(url);
        if (own_host || configured)
            && let Some(b) = self.options.credentials.for_host(host)
        {
            req = req.header(AUTHORIZATION, b.header());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| auth_err(format!("token service {shown}: {}", transport_reason(&e))))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(auth_err(format!("token service answered {status}")));
        }
        let body = read_body(resp, MAX_SMALL_BODY, "token response").await?;
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<serde_json::Value>,
        }
        let t: Token = serde_json::from_slice(&body)
            .map_err(|e| auth_err(format!("token response: {}", one_line(e))))?;
        let ttl = t
            .expires_in
            .as_ref()
            .and_then(|v| v.as_u64())
            .filter(|s| *s > 0)
            .map_or(tokens::DEFAULT_TOKEN_TTL, Duration::from_secs)
            .min(tokens::MAX_TOKEN_TTL);
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| auth_err("token response has no token".into()))?;
        if token.len() > tokens::MAX_TOKEN {
            return Err(auth_err(format!(
                "token response: the token is larger than {} bytes; refused",
                tokens::MAX_TOKEN
            )));
        }
        let mut value = token
            .bytes()
            .all(|b| b.is_ascii_graphic())
            .then(|| HeaderValue::from_str(&format!("Bearer {token}")).ok())
            .flatten()
            .ok_or_else(|| auth_err("token response: the token is not printable ASCII".into()))?;
        value.set_sensitive(true);
        Ok((value, ttl))
    }
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

/// `repository:<repo>:pull`.
fn pull_scope(r: &Reference) -> String {
    format!("repository:{}:pull", r.repository())
}

/// An error about an answer that a redirect fetched from another host says
/// only that nothing usable came back (details at debug level, for operators).
fn redact<T>(
    result: Result<T, RegistryError>,
    elsewhere: Option<String>,
) -> Result<T, RegistryError> {
    match (result, elsewhere) {
        (Err(e), Some(host)) => {
            tracing::debug!(error = %e, target = %host, "redirect target's answer refused");
            let what = match e {
                RegistryError::Transport { what, .. }
                | RegistryError::Status { what, .. }
                | RegistryError::NotFound { what }
                | RegistryError::TooLarge { what, .. }
                | RegistryError::DigestMismatch { what, .. }
                | RegistryError::Invalid { what, .. }
                | RegistryError::Auth { what, .. }
                | RegistryError::Redirect { what, .. }
                | RegistryError::Redirected { what, .. } => what,
            };
            Err(RegistryError::Redirected { what, host })
        }
        (result, _) => result,
    }
}

/// A manifest answer: status, bounded body, digest checks, media type.
async fn read_manifest(
    r: &Reference,
    resp: reqwest::Response,
    what: String,
    limit: u64,
) -> Result<Manifest, RegistryError> {
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(RegistryError::NotFound { what }),
        _ => return Err(status_error(resp, &what).await),
    }
    let header_digest = header_str(resp.headers(), "docker-content-digest");
    let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str());
    let bytes = read_body(resp, limit, &what).await?;
    let digest = Digest::of(&bytes);
    if let Some(expected) = r.digest()
        && *expected != digest
    {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: expected.to_string(),
            got: digest.to_string(),
        });
    }
    if let Some(h) = header_digest
        && h.starts_with("sha256:")
        && h != digest.as_str()
    {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: h,
            got: digest.to_string(),
        });
    }
    let media_type = crate::oci::target::media_type_of(&bytes)
        .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or_default().trim().to_owned()))
        .unwrap_or_default();
    Ok(Manifest {
        digest,
        media_type,
        bytes,
    })
}

/// A blob answer: status, body bounded by its declared size, digest check.
async fn read_blob(
    resp: reqwest::Response,
    size: u64,
    digest: &Digest,
    what: String,
) -> Result<Vec<u8>, RegistryError> {
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(RegistryError::NotFound { what }),
        _ => return Err(status_error(resp, &what).await),
    }
    let bytes = read_body(resp, size, &what).await?;
    if bytes.len() as u64 != size || !digest.matches(&bytes) {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: digest.to_string(),
            got: Digest::of(&bytes).to_string(),
        });
    }
    Ok(bytes)
}

/// Idle connections kept per registry host, and for how long.
const MAX_IDLE_PER_HOST: usize = 2;
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests to registries in flight at once, process-wide: each holds a
/// connection (a file descriptor) and buffers, and pod specs choose the
/// registries, so the total is bounded whatever reviews ask for.
pub const MAX_OUTBOUND: usize = 256;
/// A referrers index (API answer or fallback tag) is read up to this size.
pub const MAX_REFERRERS_INDEX: u64 = 2 << 20;

/// Bytes of registry answers being read at once, process-wide: with the
/// per-read limits this bounds what slow or stalling registries can make
/// the process hold, however many reviews name them.
pub const MAX_READ_BYTES: u64 = 32 << 20;

/// Reserves `bytes` of [`MAX_READ_BYTES`] (in KiB units) for one read;
/// waits, first come first served, until they are free.
async fn reserve_read(
    bytes: u64,
    what: &str,
) -> Result<tokio::sync::SemaphorePermit<'static>, RegistryError> {
    const UNITS: usize = (MAX_READ_BYTES >> 10) as usize;
    static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(UNITS);
    let units = bytes.div_ceil(1024).clamp(1, UNITS as u64) as u32;
    READS
        .acquire_many(units)
        .await
        .map_err(|_| RegistryError::Transport {
            what: what.to_owned(),
            reason: "the client is shutting down".into(),
        })
}

/// A place among the [`MAX_OUTBOUND`] requests in flight; waits for one.
async fn outbound_permit(
    what: &str,
) -> Result<tokio::sync::SemaphorePermit<'static>, RegistryError> {
    static OUTBOUND: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_OUTBOUND);
    OUTBOUND
        .acquire()
        .await
        .map_err(|_| RegistryError::Transport {
            what: what.to_owned(),
            reason: "the client is shutting down".into(),
        })
}

/// The referrers fallback tag of `subject`: `sha256-<hex>`.
pub fn referrers_tag(r: &Reference, subject: &Digest) -> Reference {
    let tag = format!("sha256-{}", subject.hex());
    // A valid tag by construction (71 characters of [a-z0-9-]).
    Reference::parse(&format!("{}:{tag}", r.repo_name())).unwrap_or_else(|_| r.clone())
}

/// An OCI image index, as far as referrers go.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn one_line(e: impl std::fmt::Display) -> String {
    shorten(&e.to_string().replace('\n', " "))
}

/// What went wrong on the wire, in words: the timeout, or the chain of causes
/// under reqwest's "error sending request for url (…)".
fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut causes = Vec::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !causes.iter().any(|c: &String| c.contains(&text)) {
            causes.push(text);
        }
        src = s.source();
    }
    let reason = if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    };
    let reason = if e.is_connect() && !reason.starts_with("connection") {
        format!("connection failed: {reason}")
    } else {
        reason
    };
    crate::oci::digest::shorten_to(&reason.replace('\n', " "), 240)
}

/// Reads a response body, failing as soon as it passes `limit` bytes.
async fn read_body(
    mut resp: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(RegistryError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    // What this read may buffer, reserved before reading (the announced
    // length, else the limit): bodies in flight are bounded process-wide.
    let _reserved = reserve_read(resp.content_length().unwrap_or(limit).min(limit), what).await?;
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() as u64 + chunk.len() as u64 > limit {
                    return Err(RegistryError::TooLarge {
                        what: what.to_owned(),
                        limit,
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => {
                return Err(RegistryError::Transport {
                    what: what.to_owned(),
                    reason: format!("reading the body: {}", transport_reason(&e)),
                });
            }
        }
    }
}

/// A non-success answer, with the registry's own error message when it gives one.
async fn status_error(resp: reqwest::Response, what: &str) -> RegistryError {
    let status = resp.status();
    let retry_after = header_str(resp.headers(), "retry-after");
    let body = read_body(resp, MAX_SMALL_BODY, what)
        .await
        .unwrap_or_default();
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    let mut message = String::new();
    if let Ok(errs) = serde_json::from_slice::<Errors>(&body)
        && let Some(e) = errs.errors.first()
    {
        let text = [e.code.as_deref(), e.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        if !text.is_empty() {
            message = format!(": {}", one_line(text));
        }
    }
    if let Some(ra) = retry_after {
        message.push_str(&format!(" (retry after {})", shorten(&ra)));
    }
    let reason = status.canonical_reason().unwrap_or("");
    RegistryError::Status {
        what: what.to_owned(),
        status: status.as_u16(),
        message: format!(
            "{}{message}",
            if reason.is_empty() {
                String::new()
            } else {
                format!(" {reason}")
            }
        ),
    }
}

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
