//! `nv2 webhook`: flags → [`WebhookOptions`], then the admission server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{CliError, CliResult};
use crate::admission::WebhookOptions;
use crate::admission::engine::CacheTtls;
use crate::oci::client::{Credentials, DockerConfig, RegistryOptions};

#[derive(clap::Args)]
pub(crate) struct WebhookArgs {
    /// Address to listen on (HTTPS).
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// Serving certificate (PEM); reloaded when it changes.
    #[arg(long)]
    tls_cert_file: PathBuf,
    /// Serving key (PEM); reloaded when it changes.
    #[arg(long)]
    tls_key_file: PathBuf,
    /// Trust directory (trustpolicy.json + x509 stores); reloaded when it changes.
    /// Without it, the ConfigMaps of --namespace are watched (in a cluster).
    #[arg(long)]
    trust_dir: Option<PathBuf>,
    /// Namespace of the trust ConfigMaps; default: the service account's.
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: Option<String>,
    /// Registry reached over plain HTTP (repeatable), e.g. localhost:5000.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// A token service on another host that may receive REGISTRY's credentials
    /// (repeatable), e.g. docker.io=auth.docker.io.
    #[arg(long = "auth-host", value_name = "REGISTRY=HOST[:PORT]")]
    auth_hosts: Vec<String>,
    /// CA certificates (PEM) to trust for registries' HTTPS.
    #[arg(long)]
    registry_ca_file: Option<PathBuf>,
    /// Docker config.json with registry credentials (e.g. a mounted pull secret).
    #[arg(long)]
    docker_config: Option<PathBuf>,
    /// Every image of a review is verified within this (below the webhook's timeoutSeconds).
    #[arg(long, default_value = "8s", value_parser = super::duration_arg)]
    deadline: Duration,
    /// Read each workload's imagePullSecrets (pod and service account) through the API.
    #[arg(long)]
    workload_pull_secrets: bool,
    /// Also pin pod templates (Deployments, CronJobs, …) to digests; GitOps tools will see drift.
    #[arg(long)]
    pin_templates: bool,
    /// How long a verified image's verdict is cached.
    #[arg(long, default_value = "5m", value_parser = super::duration_arg)]
    cache_ttl: Duration,
    /// How long a failed verdict is cached.
    #[arg(long, default_value = "30s", value_parser = super::duration_arg)]
    failure_cache_ttl: Duration,
    /// How long a tag → digest answer is cached.
    #[arg(long, default_value = "30s", value_parser = super::duration_arg)]
    tag_cache_ttl: Duration,
    /// How often certificate and trust files are checked for changes.
    #[arg(long, default_value = "2s", value_parser = super::duration_arg)]
    reload_interval: Duration,
    /// Open client connections at most (TLS handshakes included); more are closed at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_connections: u32,
    /// Concurrent HTTP/2 streams per client connection.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_streams_per_connection: u32,
    /// Bound on a client's TLS handshake, on its request headers, and on its whole request body.
    #[arg(long, default_value = "5s", value_parser = super::duration_arg)]
    read_timeout: Duration,
    /// Request body MiB buffered across all connections (each connection: 3 MiB); more is refused with 503.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(3..=4096))]
    max_buffered_request_mib: u32,
    /// After SIGTERM, keep serving this long with /readyz failing (while endpoints converge), then finish in-flight reviews and exit.
    #[arg(long, default_value = "5s", value_parser = super::duration_arg)]
    drain_period: Duration,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn nonzero(d: Duration, flag: &str) -> Result<Duration, CliError> {
    if d.is_zero() {
        return Err(CliError::Input(format!("{flag} must be at least 1s")));
    }
    Ok(d)
}

pub(super) fn webhook(args: WebhookArgs) -> CliResult {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NV2_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    let deadline = args.deadline;
    let credentials = match &args.docker_config {
        Some(path) => Credentials::anonymous()
            .with_docker_config(DockerConfig::load(path).map_err(CliError::input)?),
        None => Credentials::anonymous(),
    };
    let options = WebhookOptions {
        listen: args.listen,
        tls_cert: args.tls_cert_file,
        tls_key: args.tls_key_file,
        trust_dir: args.trust_dir,
        namespace: args.namespace,
        deadline,
        pin_templates: args.pin_templates,
        registry: RegistryOptions {
            insecure_hosts: args.insecure_registries,
            ca_file: args.registry_ca_file,
            credentials,
            // No single request may outlive the review's deadline.
            request_timeout: deadline,
            connect_timeout: deadline.min(Duration::from_secs(3)),
            auth_hosts: super::remote::auth_hosts(&args.auth_hosts)?,
            ..RegistryOptions::default()
        },
        ttls: CacheTtls {
            verified: args.cache_ttl,
            failed: args.failure_cache_ttl,
            tag: args.tag_cache_ttl,
        },
        reload_interval: args.reload_interval,
        workload_pull_secrets: args.workload_pull_secrets,
        limits: crate::admission::limits::ServerLimits {
            max_connections: args.max_connections as usize,
            max_streams: args.max_streams_per_connection,
            read_timeout: nonzero(args.read_timeout, "--read-timeout")?,
            buffered_bytes: (args.max_buffered_request_mib as usize) << 20,
        },
        drain_period: args.drain_period,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Input(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(crate::admission::run(options))
        .map_err(CliError::input)
}
