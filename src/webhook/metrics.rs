//! Prometheus metrics: admissions, latency, verifications, caches, registry
//! requests, configuration reloads.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    pub kind: String,
    pub operation: String,
    pub decision: String,
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
    status: String,
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
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        10.0,
    ]
    .into_iter()
}

impl Metrics {
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
        })
    }

    pub fn admission(&self, labels: AdmissionLabels, took: Duration) {
        self.admissions.get_or_create(&labels).inc();
        self.admission_seconds.observe(took.as_secs_f64());
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

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl crate::engine::EngineObserver for Metrics {
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

impl crate::registry::RequestObserver for Metrics {
    fn observe(&self, host: &str, status: Option<u16>, elapsed: Duration) {
        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.registry_requests
            .get_or_create(&RegistryLabels {
                host: host.into(),
                status,
            })
            .inc();
        self.registry_seconds
            .get_or_create(&HostLabels { host: host.into() })
            .observe(elapsed.as_secs_f64());
    }
}
