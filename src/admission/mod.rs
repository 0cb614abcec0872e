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
mod service;

pub use configmaps::{PolicySink, build_policy, watch_configmaps};
pub use engine::{CacheTtls, Decision, Engine};
pub use pull_secrets::{PullSecretError, PullSecrets};
pub use review::{parse_review, scope};
mod sources;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::oci::client::RegistryOptions;
use limits::{Budgets, ServerLimits};
use metrics::Metrics;

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
    /// After SIGTERM: `/readyz` fails at once, reviews are still served this
    /// long (while endpoints converge), then in-flight reviews finish.
    pub drain_period: Duration,
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
    /// Set on SIGTERM: not ready, HTTP/1.1 connections closed after each answer.
    draining: std::sync::atomic::AtomicBool,
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
            draining: std::sync::atomic::AtomicBool::new(false),
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            close_when_draining,
        ))
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
// Over 60 lines: the server's start-up steps in order (clients, sources, TLS, signals, serve).
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
    let draining = state.clone();
    let (drain_period, in_flight) = (options.drain_period, options.deadline + IN_FLIGHT_MARGIN);
    tokio::spawn(async move {
        shutdown_signal().await;
        draining
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(drain = ?drain_period, "SIGTERM: not ready; serving while endpoints converge");
        tokio::time::sleep(drain_period).await;
        tracing::info!("shutting down: finishing in-flight reviews");
        shutdown.graceful_shutdown(Some(in_flight));
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

/// Time in-flight reviews get after the drain period, beyond the deadline
/// that already bounds each of them.
const IN_FLIGHT_MARGIN: Duration = Duration::from_secs(2);

/// While draining, every HTTP/1.1 answer closes its connection, so clients
/// move to other replicas before the listener goes away (HTTP/2 clients get
/// GOAWAY at shutdown).
async fn close_when_draining(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let mut response = next.run(req).await;
    if http1 && state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining: shutting down").into_response()
    } else if state.engine.is_ready() {
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
        Ok(body) => match service::review(state, &body.bytes, mutating).await {
            service::Answer::Review(answer) => json_response(answer),
            service::Answer::BadRequest(reason) => {
                (StatusCode::BAD_REQUEST, reason.to_string()).into_response()
            }
        },
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
