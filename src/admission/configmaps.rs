//! In-cluster configuration: the trust policy and trust stores held in
//! ConfigMaps of the webhook's own namespace, watched with kube-rs.
//!
//! - the ConfigMap labelled `nv2.io/trust-policy` holds `trustpolicy.json`;
//! - each ConfigMap labelled `nv2.io/trust-store` = `ca` | `signingAuthority`
//!   is a store named after the ConfigMap; every data entry is a PEM bundle.
//!
//! Each change rebuilds the whole configuration off the request path and
//! hands it to a [`PolicySink`]; a bad one is reported and the sink keeps the
//! last good configuration — except that a store deleted, emptied or
//! unreadable trusts nothing, even when the document broke at the same time.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};

use crate::policy::document::{PolicyError, Stores, TrustInputs, TrustPolicy};
use crate::signature::cert::Certificate;

pub(crate) const POLICY_LABEL: &str = "nv2.io/trust-policy";
pub(crate) const STORE_LABEL: &str = "nv2.io/trust-store";
pub(crate) const POLICY_KEY: &str = "trustpolicy.json";

/// Receives each rebuilt configuration, or why it could not be built.
pub trait PolicySink: Send + Sync {
    // Over 60 lines: one watch event's effect on the ConfigMap set, with each kind of event beside the others.
    fn apply(&self, result: Result<TrustPolicy, PolicyError>);
}

/// Builds the trust policy from the ConfigMaps of the namespace.
pub fn build_policy<'a>(
    configmaps: impl IntoIterator<Item = &'a ConfigMap>,
) -> Result<TrustPolicy, PolicyError> {
    trust_inputs(configmaps).policy()
}

/// The document and stores held in the namespace's ConfigMaps. A store
/// ConfigMap that cannot be read (bad label value, malformed PEM) trusts
/// nothing and is named in `problems`; problems of the policy ConfigMap are
/// the document's error.
pub(crate) fn trust_inputs<'a>(configmaps: impl IntoIterator<Item = &'a ConfigMap>) -> TrustInputs {
    let mut policy: Option<(&str, &[u8])> = None;
    let mut document_error = None;
    let mut stores = Stores::new();
    let mut problems = Vec::new();
    for cm in configmaps {
        let name = cm.metadata.name.as_deref().unwrap_or("");
        let labels = cm.metadata.labels.as_ref();
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let data = cm.data.as_ref().unwrap_or(&EMPTY);
        if labels.is_some_and(|l| l.contains_key(POLICY_LABEL)) {
            match (data.get(POLICY_KEY), policy) {
                (None, _) => {
                    document_error.get_or_insert(PolicyError::ConfigMapWithoutKey {
                        configmap: name.to_owned(),
                        label: POLICY_LABEL,
                        key: POLICY_KEY,
                    });
                }
                (Some(_), Some((other, _))) => {
                    document_error.get_or_insert(PolicyError::TwoPolicyConfigMaps {
                        label: POLICY_LABEL,
                        first: other.to_owned(),
                        second: name.to_owned(),
                    });
                }
                (Some(json), None) => policy = Some((name, json.as_bytes())),
            }
        }
        if let Some(kind) = labels.and_then(|l| l.get(STORE_LABEL)) {
            if !matches!(kind.as_str(), "ca" | "signingAuthority") {
                problems.push(format!(
                    "ConfigMap {name}: label {STORE_LABEL}={kind:?} must be ca or signingAuthority"
                ));
                continue;
            }
            let key = format!("{kind}:{name}");
            let mut certs = Vec::new();
            let mut broken = None;
            for (entry, pem) in data {
                match Certificate::from_pem(pem.as_bytes()) {
                    Ok(parsed) => certs.extend(parsed),
                    Err(e) => {
                        broken = Some(format!("ConfigMap {name}, key {entry}: {e}"));
                        break;
                    }
                }
            }
            if let Some(e) = broken {
                problems.push(format!(
                    "trust store {key:?} cannot be read, so it trusts nothing: {e}"
                ));
                certs.clear();
            }
            stores.insert(key, certs);
        }
    }
    let document = match (document_error, policy) {
        (Some(e), _) => Err(e),
        (None, None) => Err(PolicyError::NoPolicyConfigMap(POLICY_LABEL)),
        // The document's own errors name its ConfigMap.
        (None, Some((name, json))) => match TrustPolicy::parse(json, &stores) {
            Err(e) => Err(PolicyError::InConfigMap {
                configmap: name.to_owned(),
                error: Box::new(e),
            }),
            Ok(_) => Ok(json.to_vec()),
        },
    };
    TrustInputs {
        document,
        stores,
        problems,
    }
}

/// Name, labels and data of one relevant ConfigMap.
type Relevant = (String, BTreeMap<String, String>, BTreeMap<String, String>);

/// What of the ConfigMaps matters, so that unrelated changes cause no rebuild.
fn fingerprint(configmaps: &[Arc<ConfigMap>]) -> Vec<Relevant> {
    let mut out: Vec<_> = configmaps
        .iter()
        .filter(|cm| {
            cm.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(POLICY_LABEL) || l.contains_key(STORE_LABEL))
        })
        .map(|cm| {
            (
                cm.metadata.name.clone().unwrap_or_default(),
                cm.metadata.labels.clone().unwrap_or_default(),
                cm.data.clone().unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Watches the ConfigMaps of `api`'s namespace and feeds `sink` a new
/// configuration whenever the relevant ones change. Runs until the stream
/// ends (it does not: the watcher re-lists after errors, with backoff).
pub async fn watch_configmaps(api: Api<ConfigMap>, sink: Arc<dyn PolicySink>) {
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    let mut last = None;
    let mut last_document: Option<Vec<u8>> = None;
    let mut stream = stream;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "ConfigMap watch failed; retrying");
                continue;
            }
        }
        let state = reader.state();
        let now = fingerprint(&state);
        if last.as_ref() == Some(&now) {
            continue;
        }
        last = Some(now);
        let inputs = trust_inputs(state.iter().map(|cm| cm.as_ref()));
        if let Ok(doc) = &inputs.document {
            last_document = Some(doc.clone());
        }
        sink.apply(inputs.policy_or_withdrawal(last_document.as_deref()));
    }
}

/// The namespace the webhook runs in: `--namespace`, else the service account's.
pub(crate) fn own_namespace(flag: Option<&str>) -> Result<String, super::WebhookError> {
    if let Some(ns) = flag {
        return Ok(ns.to_owned());
    }
    const SA_NS: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
    std::fs::read_to_string(SA_NS)
        .map(|s| s.trim().to_owned())
        .map_err(|e| super::WebhookError::Namespace {
            path: SA_NS,
            reason: e.to_string(),
        })
}
