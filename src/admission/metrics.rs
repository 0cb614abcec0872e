//! Prometheus metrics: admissions, latency, verifications, caches, registry
//! requests, configuration reloads.
//!
//! Every label value comes from a closed set: kinds nv2 checks and the four
//! admission operations (else `other`), a short list of HTTP statuses (else
//! their class), and the registry hosts the configuration names — hosts of
//! trust-policy scopes and `--insecure-registry`, at most
//! [`MAX_HOST_LABELS`] — else `other`. Strings from a request body or a pod
//! spec never become a label, so no one can grow `/metrics` or the memory
//! behind it.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// At most this many registry hosts get their own label value.
pub(crate) const MAX_HOST_LABELS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    kind: &'static str,
    operation: &'static str,
    decision: &'static str,
}

/// The `kind` label: a kind nv2 checks, else `other`.
pub(crate) fn kind_label(kind: &str) -> &'static str {
    const KINDS: [&str; 8] = [
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
    ];
    KINDS.into_iter().find(|k| *k == kind).unwrap_or("other")
}

/// The `operation` label: an admission operation, else `other`.
pub(crate) fn operation_label(operation: &str) -> &'static str {
    ["CREATE", "UPDATE", "DELETE", "CONNECT"]
        .into_iter()
        .find(|o| *o == operation)
        .unwrap_or("other")
}

/// The `decision` label.
fn decision_label(decision: &str) -> &'static str {
    ["allowed", "denied", "warned", "ignored"]
        .into_iter()
        .find(|d| *d == decision)
        .unwrap_or("other")
}

/// The `status` label: common statuses as numbers, others as their class.
pub(crate) fn status_label(status: Option<u16>) -> &'static str {
    const KNOWN: [(u16, &str); 20] = [
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (204, "204"),
        (206, "206"),
        (301, "301"),
        (302, "302"),
        (303, "303"),
        (307, "307"),
        (308, "308"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    let Some(code) = status else {
        return "error";
    };
    if let Some((_, label)) = KNOWN.iter().find(|(c, _)| *c == code) {
        return label;
    }
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabels {
    host: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    host: String,
}

/// Every metric the webhook exports.
pub struct Metrics {
    registry: Registry,
    admissions: Family<AdmissionLabels, Counter>,
    admission_seconds: Histogram,
    verifications: Family<ResultLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
    registry_requests: Family<RegistryLabels, Counter>,
    registry_seconds: Family<HostLabels, Histogram>,
    reloads: Family<ResultLabels, Counter>,
    config_valid: Gauge,
    config_generation: Gauge,
    cached_verdicts: Gauge,
    open_connections: Gauge,
    buffered_request_bytes: Gauge,
    registry_tokens: Gauge,
    registry_token_bytes: Gauge,
    /// Registry hosts with a label of their own: (from flags, from the policy).
    hosts: RwLock<(HashSet<String>, HashSet<String>)>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        10.0,
    ]
    .into_iter()
}

impl Metrics {
    // Over 60 lines: registers every metric; a list, not logic.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("nv2");
        let admissions = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission reviews by kind, operation and decision",
            admissions.clone(),
        );
        let admission_seconds = Histogram::new(latency_buckets());
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission review",
            admission_seconds.clone(),
        );
        let verifications = Family::<ResultLabels, Counter>::default();
        registry.register(
            "verifications",
            "Image verifications (cache misses) by result",
            verifications.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cache lookups by cache (verdict, tag) and result (hit, miss)",
            cache.clone(),
        );
        let registry_requests = Family::<RegistryLabels, Counter>::default();
        registry.register(
            "registry_requests",
            "Registry requests by host and HTTP status (error: no answer)",
            registry_requests.clone(),
        );
        let registry_seconds = Family::<HostLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register(
            "registry_request_duration_seconds",
            "Registry request latency by host",
            registry_seconds.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Trust configuration reloads by result (ok, error)",
            reloads.clone(),
        );
        let config_valid = Gauge::default();
        registry.register(
            "config_valid",
            "1 when the last configuration seen was valid, 0 when a bad one was kept out",
            config_valid.clone(),
        );
        let config_generation = Gauge::default();
        registry.register(
            "config_generation",
            "Generation of the trust configuration in use",
            config_generation.clone(),
        );
        let cached_verdicts = Gauge::default();
        registry.register(
            "cached_verdicts",
            "Verdicts held in the cache (fresh or expired, not yet evicted)",
            cached_verdicts.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open (TLS handshakes included)",
            open_connections.clone(),
        );
        let buffered_request_bytes = Gauge::default();
        registry.register(
            "buffered_request_bytes",
            "Request body bytes held by requests in progress",
            buffered_request_bytes.clone(),
        );
        let registry_tokens = Gauge::default();
        registry.register(
            "registry_tokens",
            "Registry tokens and Basic-auth marks held",
            registry_tokens.clone(),
        );
        let registry_token_bytes = Gauge::default();
        registry.register(
            "registry_token_bytes",
            "Bytes of registry tokens held (at least 1 KiB per entry)",
            registry_token_bytes.clone(),
        );
        Arc::new(Metrics {
            registry,
            admissions,
            admission_seconds,
            verifications,
            cache,
            registry_requests,
            registry_seconds,
            reloads,
            config_valid,
            config_generation,
            cached_verdicts,
            open_connections,
            buffered_request_bytes,
            registry_tokens,
            registry_token_bytes,
            hosts: RwLock::new((HashSet::new(), HashSet::new())),
        })
    }

    /// Counts one admission review; `kind` and `operation` are as the request
    /// said, and are mapped to their closed sets here.
    pub fn admission(&self, kind: &str, operation: &str, decision: &str, took: Duration) {
        let labels = AdmissionLabels {
            kind: kind_label(kind),
            operation: operation_label(operation),
            decision: decision_label(decision),
        };
        self.admissions.get_or_create(&labels).inc();
        self.admission_seconds.observe(took.as_secs_f64());
    }

    /// Registry hosts from the command line (`--insecure-registry`).
    pub fn set_flag_hosts<'a>(&self, hosts: impl IntoIterator<Item = &'a str>) {
        let set = bounded_hosts(hosts);
        if let Ok(mut h) = self.hosts.write() {
            h.0 = set;
        }
    }

    /// Registry hosts of the trust policy's scopes (`*` names none).
    pub fn set_policy_hosts(&self, policy: &crate::policy::document::TrustPolicy) {
        let scopes = policy
            .policies()
            .iter()
            .flat_map(|p| p.scopes())
            .filter_map(|s| s.split_once('/').map(|(host, _)| host));
        let set = bounded_hosts(scopes);
        if let Ok(mut h) = self.hosts.write() {
            h.1 = set;
        }
    }

    /// `host` when the configuration names it, else `other`.
    fn host_label(&self, host: &str) -> String {
        let host = host.to_ascii_lowercase();
        match self.hosts.read() {
            Ok(h) if h.0.contains(&host) || h.1.contains(&host) => host,
            _ => "other".to_owned(),
        }
    }

    pub fn reload(&self, ok: bool, generation: Option<u64>) {
        let result = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        self.config_valid.set(i64::from(ok));
        if let Some(g) = generation {
            self.config_generation.set(g as i64);
        }
    }

    pub fn set_cached_verdicts(&self, n: usize) {
        self.cached_verdicts.set(n as i64);
    }

    /// What clients and registries make the webhook hold now.
    pub fn set_holdings(
        &self,
        connections: usize,
        buffered: usize,
        tokens: usize,
        token_bytes: u64,
    ) {
        self.open_connections.set(connections as i64);
        self.buffered_request_bytes.set(buffered as i64);
        self.registry_tokens.set(tokens as i64);
        self.registry_token_bytes.set(token_bytes as i64);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl crate::admission::engine::EngineObserver for Metrics {
    fn cache_lookup(&self, cache: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache
            .get_or_create(&CacheLabels {
                cache: cache.into(),
                result: result.into(),
            })
            .inc();
    }

    fn verification(&self, result: &'static str) {
        self.verifications
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }
}

/// At most [`MAX_HOST_LABELS`] distinct hosts, lower case.
fn bounded_hosts<'a>(hosts: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    let mut set = HashSet::new();
    for h in hosts {
        if set.len() >= MAX_HOST_LABELS {
            break;
        }
        if !h.is_empty() && h.len() <= 255 {
            set.insert(h.to_ascii_lowercase());
        }
    }
    set
}

impl crate::oci::client::RequestObserver for Metrics {
    fn observe(&self, host: &str, status: Option<u16>, elapsed: Duration) {
        let host = self.host_label(host);
        self.registry_requests
            .get_or_create(&RegistryLabels {
                host: host.clone(),
                status: status_label(status),
            })
            .inc();
        self.registry_seconds
            .get_or_create(&HostLabels { host })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::client::RequestObserver;

    #[test]
    fn labels_come_from_closed_sets() {
        let m = Metrics::new();
        m.set_flag_hosts(["localhost:5000"]);
        for i in 0..5_000 {
            let junk = format!("Kind{i}");
            m.admission(&junk, &junk, "ignored", Duration::from_millis(1));
            m.observe(
                &format!("h{i}.example"),
                Some(100 + (i % 900) as u16),
                Duration::ZERO,
            );
        }
        m.admission("Pod", "CREATE", "allowed", Duration::ZERO);
        m.observe("LOCALHOST:5000", Some(200), Duration::ZERO);
        let text = m.encode();
        assert!(text.len() < 20_000, "{} bytes", text.len());
        assert!(
            text.contains(r#"kind="other",operation="other",decision="ignored""#),
            "{text}"
        );
        assert!(text.contains(r#"kind="Pod",operation="CREATE",decision="allowed""#));
        assert!(
            text.contains(r#"host="localhost:5000",status="200""#),
            "{text}"
        );
        assert!(text.contains(r#"host="other",status="5xx""#));
        assert!(!text.contains("h1.example") && !text.contains("Kind1"));
    }

    #[test]
    fn host_labels_are_bounded() {
        let m = Metrics::new();
        let many: Vec<String> = (0..1000).map(|i| format!("r{i}.example")).collect();
        m.set_flag_hosts(many.iter().map(String::as_str));
        assert_eq!(m.hosts.read().unwrap().0.len(), MAX_HOST_LABELS);
    }
}
