//! `nv2 webhook`: the validating and digest-pinning mutating admission
//! webhook. HTTPS only (rustls, TLS 1.2+, h2 and HTTP/1.1), certificate and
//! trust configuration reloaded from disk when they change.
//!
//! Routes: `POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`
//! (ready once a valid trust policy is loaded), `GET /metrics`.

pub(crate) mod configmaps;
pub(crate) mod decision;
pub(crate) mod engine;
pub(crate) mod fairness;
pub(crate) mod limits;
pub(crate) mod metrics;
pub(crate) mod pull_secrets;
pub(crate) mod review;

pub use configmaps::{PolicySink, build_policy, watch_configmaps};
pub use engine::{CacheTtls, Decision, Engine};
pub use pull_secrets::{PullSecretError, PullSecrets};
pub use review::{parse_review, scope};
mod sources;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;

use crate::admission::engine::ImageOutcome;
use crate::oci::client::RegistryOptions;
use limits::{Budgets, ServerLimits};
use metrics::Metrics;
use review::{Scope, allow_json, decide, response_json};

/// Request bodies over this are refused (413).
pub const MAX_BODY: usize = 3 << 20;
/// Distinct images verified for one request; more is denied. Each image's
/// own work is bounded ([`crate::verify::remote::MAX_IMAGE_SIGNATURES`]), so this
/// bounds what one request can cost.
pub const MAX_IMAGES_PER_REVIEW: usize = 64;
/// Images of one request verified at a time.
const IMAGES_IN_FLIGHT: usize = 16;

/// How the webhook runs.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Trust directory; without it, ConfigMaps of `namespace` (in a cluster).
    pub trust_dir: Option<PathBuf>,
    /// The namespace whose ConfigMaps hold the trust configuration.
    pub namespace: Option<String>,
    /// All images of one review are verified within this.
    pub deadline: Duration,
    /// Pin pod templates too (Deployments, CronJobs, …), not only Pods.
    pub pin_templates: bool,
    pub registry: RegistryOptions,
    pub ttls: CacheTtls,
    /// How often certificate and trust files are checked for changes.
    pub reload_interval: Duration,
    /// Read each workload's pull secrets through the API for its images.
    pub workload_pull_secrets: bool,
    /// What clients of the port may make the webhook hold.
    pub limits: ServerLimits,
}

/// Shared by every request.
pub struct AppState {
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
    pub deadline: Duration,
    pub pin_templates: bool,
    /// Set when workload pull secrets are read (`--workload-pull-secrets`).
    pub pull_secrets: Option<crate::admission::pull_secrets::PullSecrets>,
    /// Connections and buffered request bytes.
    pub budgets: Arc<Budgets>,
    /// Registry tokens held (for metrics).
    auth_store: Arc<crate::oci::client::AuthStore>,
    /// Images in verification per namespace.
    tenants: fairness::Tenants,
}

impl AppState {
    /// The engine and metrics for `options`.
    pub fn new(
        options: &WebhookOptions,
        pull_secrets: Option<crate::admission::pull_secrets::PullSecrets>,
    ) -> Result<Arc<Self>, WebhookError> {
        let metrics = Metrics::new();
        metrics.set_flag_hosts(options.registry.insecure_hosts.iter().map(String::as_str));
        let mut registry_options = options.registry.clone();
        registry_options.observer = Some(metrics.clone());
        let auth_store = registry_options.auth_store.clone();
        let engine = Engine::new(registry_options, options.ttls, Some(metrics.clone()))?;
        Ok(Arc::new(AppState {
            engine,
            metrics,
            deadline: options.deadline,
            pin_templates: options.pin_templates,
            pull_secrets,
            budgets: Budgets::new(options.limits),
            auth_store,
            tenants: fairness::Tenants::default(),
        }))
    }
}

/// The routes, over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// Why the webhook cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Registry(#[from] crate::oci::client::ClientSetupError),
    #[error("Kubernetes client (in-cluster or kubeconfig): {0}")]
    Kubernetes(String),
    #[error("cannot tell the namespace ({path}: {reason}); pass --namespace or --trust-dir")]
    Namespace { path: &'static str, reason: String },
    #[error("TLS certificate {cert} / key {key}: {reason}")]
    Tls {
        cert: String,
        key: String,
        reason: String,
    },
    #[error("serving on {listen}: {reason}")]
    Serve { listen: SocketAddr, reason: String },
}

/// Runs the webhook until SIGTERM or Ctrl-C.
pub async fn run(options: WebhookOptions) -> Result<(), WebhookError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let needs_api = options.trust_dir.is_none() || options.workload_pull_secrets;
    let client = if needs_api {
        Some(
            kube::Client::try_default()
                .await
                .map_err(|e| WebhookError::Kubernetes(e.to_string()))?,
        )
    } else {
        None
    };
    let pull_secrets = match (&client, options.workload_pull_secrets) {
        (Some(c), true) => Some(crate::admission::pull_secrets::PullSecrets::new(
            c.clone(),
            options.ttls.tag,
        )),
        _ => None,
    };
    let state = AppState::new(&options, pull_secrets)?;
    match &options.trust_dir {
        Some(dir) => {
            sources::load_trust_dir(&state, dir);
            tokio::spawn(sources::watch_trust_dir(
                state.clone(),
                dir.clone(),
                options.reload_interval,
            ));
        }
        None => {
            let namespace =
                crate::admission::configmaps::own_namespace(options.namespace.as_deref())?;
            let client = client
                .clone()
                .ok_or_else(|| WebhookError::Kubernetes("no client".into()))?;
            let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
                kube::Api::namespaced(client, &namespace);
            tracing::info!(%namespace, "watching trust policy and store ConfigMaps");
            tokio::spawn(crate::admission::configmaps::watch_configmaps(
                api,
                state.clone(),
            ));
        }
    }
    let tls =
        axum_server::tls_rustls::RustlsConfig::from_pem_file(&options.tls_cert, &options.tls_key)
            .await
            .map_err(|e| WebhookError::Tls {
                cert: options.tls_cert.display().to_string(),
                key: options.tls_key.display().to_string(),
                reason: e.to_string(),
            })?;
    tokio::spawn(sources::watch_tls(
        tls.clone(),
        options.tls_cert.clone(),
        options.tls_key.clone(),
        options.reload_interval,
    ));
    let budgets = state.budgets.clone();
    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    tracing::info!(listen = %options.listen, "nv2 webhook listening (HTTPS)");
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
        .handshake_timeout(options.limits.read_timeout)
        .acceptor(limits::LimitAcceptor::new(budgets));
    let mut server = axum_server::bind(options.listen)
        .acceptor(acceptor)
        .first_request_timeout(options.limits.read_timeout)
        .handle(handle);
    limits::configure(&mut server, &options.limits);
    server
        .serve(router(state).into_make_service())
        .await
        .map_err(|e| WebhookError::Serve {
            listen: options.listen,
            reason: e.to_string(),
        })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.engine.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no valid trust policy is loaded",
        )
            .into_response()
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    state
        .metrics
        .set_cached_verdicts(state.engine.cached_verdicts());
    state.metrics.set_holdings(
        state.budgets.open_connections(),
        state.budgets.buffered_bytes(),
        state.auth_store.len(),
        state.auth_store.bytes(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn validate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    review_request(&state, req, false).await
}

async fn mutate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    review_request(&state, req, true).await
}

/// Reads the body under the server's limits, then handles the review; the
/// body's budget is held until the answer is ready.
async fn review_request(state: &AppState, req: Request, mutating: bool) -> Response {
    match limits::read_body(&state.budgets, req).await {
        Ok(body) => handle_review(state, &body.bytes, mutating).await,
        Err(e) => {
            tracing::warn!(reason = %e, "refused an admission request body");
            (e.status(), e.to_string()).into_response()
        }
    }
}

fn json_response(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// One AdmissionReview: parse, find images, verify them in parallel under the
/// deadline, decide, log one line, count.
async fn handle_review(state: &AppState, body: &[u8], mutating: bool) -> Response {
    let started = Instant::now();
    let req = match parse_review(body) {
        Ok(r) => r,
        Err(reason) => {
            tracing::warn!(%reason, "rejected an admission request");
            return (StatusCode::BAD_REQUEST, reason.to_string()).into_response();
        }
    };
    let count = |decision: &str| {
        state
            .metrics
            .admission(&req.kind.kind, &req.operation, decision, started.elapsed())
    };
    let (fields, is_pod, pull_secrets, service_account) = match scope(&req) {
        Ok(Scope::Ignore) => {
            count("ignored");
            return json_response(allow_json(&req.uid));
        }
        Ok(Scope::Check {
            images,
            is_pod,
            pull_secrets,
            service_account,
        }) => (images, is_pod, pull_secrets, service_account),
        Err(reason) => {
            count("denied");
            return deny_whole_request(&req, reason.to_string());
        }
    };
    let mut distinct: Vec<&str> = fields.iter().map(|f| f.image.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() > MAX_IMAGES_PER_REVIEW {
        let reason = format!(
            "the object names {} distinct images; at most {MAX_IMAGES_PER_REVIEW} are verified per request",
            distinct.len()
        );
        count("denied");
        return deny_whole_request(&req, reason);
    }
    let deadline = tokio::time::Instant::from_std(started) + state.deadline;
    let namespace = req.namespace.as_deref().unwrap_or("default");
    // With workload pull secrets, the workload's credentials come first.
    let credentials = match &state.pull_secrets {
        None => Ok(None),
        Some(reader) => {
            match tokio::time::timeout_at(
                deadline,
                reader.for_workload(namespace, &pull_secrets, &service_account),
            )
            .await
            {
                Ok(Ok(configs)) => Ok(Some(state.engine.credentials().layered_under(configs))),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(pull_secrets::PullSecretError::TimedOut),
            }
        }
    };
    let credentials = &credentials;
    // Images are checked at most IMAGES_IN_FLIGHT at a time (each may hold
    // several registry connections); every one under the same deadline.
    let checks: Vec<_> = distinct
        .iter()
        .map(|image| async move {
            let creds = match credentials {
                Ok(c) => c.as_ref(),
                Err(reason) => {
                    return ImageOutcome {
                        image: (*image).to_owned(),
                        policy: None,
                        digest: None,
                        decision: decision::when_unverifiable(
                            state.engine.is_audit(image),
                            reason.clone().into(),
                        ),
                    };
                }
            };
            // A place among the namespace's images in verification, then the
            // check: both under the review's deadline.
            let checked = async {
                let _place = state.tenants.place(namespace).await;
                state.engine.check_with(image, creds).await
            };
            match tokio::time::timeout_at(deadline, checked).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    let why = decision::Unverifiable::Deadline(state.deadline);
                    ImageOutcome {
                        image: (*image).to_owned(),
                        policy: None,
                        digest: None,
                        decision: decision::when_unverifiable(state.engine.is_audit(image), why),
                    }
                }
            }
        })
        .collect();
    let outcomes: Vec<ImageOutcome> = futures_util::stream::iter(checks)
        .buffered(IMAGES_IN_FLIGHT)
        .collect()
        .await;
    let pin = mutating && (is_pod || state.pin_templates);
    let response = decide(&fields, &outcomes, pin);
    let decision = if !response.allowed {
        "denied"
    } else if !response.warnings.is_empty() {
        "warned"
    } else {
        "allowed"
    };
    let reasons: Vec<String> = outcomes
        .iter()
        .map(|o| match &o.decision {
            Decision::Allow => format!(
                "{}: verified {}",
                o.image,
                o.digest.as_ref().map(|d| d.as_str()).unwrap_or("(skip)")
            ),
            Decision::Warn(r) => format!("{}: warning: {r}", o.image),
            Decision::Deny(r) => format!("{}: denied: {r}", o.image),
        })
        .collect();
    log_review(&req, decision, &reasons);
    count(decision);
    json_response(response_json(&req.uid, &response))
}

/// Denies a request for a reason that is not one image's (logged).
fn deny_whole_request(req: &review::AdmissionRequest, reason: String) -> Response {
    let r = review::Response {
        allowed: false,
        message: Some(format!("nv2 denied: {reason}")),
        warnings: Vec::new(),
        patch: None,
        audit: Default::default(),
    };
    log_review(req, "denied", std::slice::from_ref(&reason));
    json_response(response_json(&req.uid, &r))
}

fn log_review(req: &review::AdmissionRequest, decision: &str, reasons: &[String]) {
    tracing::info!(
        uid = %crate::oci::digest::shorten(&req.uid),
        namespace = %crate::oci::digest::shorten(req.namespace.as_deref().unwrap_or("")),
        name = %crate::oci::digest::shorten(req.name.as_deref().unwrap_or("")),
        kind = %crate::oci::digest::shorten(&req.kind.kind),
        operation = %crate::oci::digest::shorten(&req.operation),
        dry_run = req.dry_run.unwrap_or(false),
        decision,
        images = %crate::oci::digest::shorten_to(&reasons.join(" | "), MAX_LOGGED_REASONS),
        "admission review"
    );
}

/// The most a review's log line says about its images, in bytes: one line
/// per review, whatever registries answered (the full deny message goes to
/// the API server, bounded there too).
const MAX_LOGGED_REASONS: usize = 4096;
