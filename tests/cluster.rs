//! The ConfigMap source against kube-rs's mocked service: the test plays the
//! API server (list, then watch streams with ADDED/MODIFIED/DELETED, a
//! bookmark, and a 410 Gone that forces a re-list); everything around it —
//! the watcher, the reflector, the policy build — is real.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::client::Body;
use nv2::admission::{PolicySink, build_policy, watch_configmaps};
use nv2::policy::{PolicyError, TrustPolicy};
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn cert_pem(cn: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.self_signed(&key).unwrap().pem()
}

fn policy_json(scope: &str) -> String {
    json!({"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": [scope],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"], "trustedIdentities": ["*"]}]})
    .to_string()
}

fn cm(name: &str, rv: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "nv2-system", "resourceVersion": rv, "uid": format!("uid-{name}"), "labels": labels},
        "data": data})
}

fn policy_cm(name: &str, rv: &str, scope: &str) -> Value {
    cm(
        name,
        rv,
        json!({"nv2.io/trust-policy": "true"}),
        json!({"trustpolicy.json": policy_json(scope)}),
    )
}

fn store_cm(rv: &str, pem: &str) -> Value {
    cm(
        "acme",
        rv,
        json!({"nv2.io/trust-store": "ca"}),
        json!({"root.pem": pem}),
    )
}

fn list(rv: &str, items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": rv}, "items": items}))
        .unwrap()
}

fn events(lines: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend(serde_json::to_vec(l).unwrap());
        out.push(b'\n');
    }
    out
}

/// Records what the watch hands over: the scopes of each policy, or the error.
struct Sink(mpsc::UnboundedSender<Result<Vec<String>, String>>);

impl PolicySink for Sink {
    /// A policy that withdraws trust (a store unreadable or gone) is
    /// recorded as an error naming why.
    fn apply(&self, result: Result<TrustPolicy, PolicyError>) {
        let _ = self.0.send(result.map_err(|e| e.to_string()).and_then(|p| {
            if !p.withdrawn().is_empty() {
                return Err(format!("withdrawn: {}", p.withdrawn().join("; ")));
            }
            Ok(p.policies()
                .iter()
                .flat_map(|p| p.scopes().to_vec())
                .collect())
        }));
    }
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// Answers the next request, checking whether it is a watch.
async fn answer(handle: &mut Handle, watch: bool, body: Vec<u8>) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("the watcher made no request")
        .expect("service dropped");
    assert_eq!(req.method(), http::Method::GET);
    assert_eq!(req.uri().path(), "/api/v1/namespaces/nv2-system/configmaps");
    let query = req.uri().query().unwrap_or_default().to_owned();
    assert_eq!(query.contains("watch=true"), watch, "{query}");
    send.send_response(Response::builder().body(Body::from(body)).unwrap());
}

async fn next(
    rx: &mut mpsc::UnboundedReceiver<Result<Vec<String>, String>>,
) -> Result<Vec<String>, String> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no configuration was built")
        .expect("sink closed")
}

#[tokio::test]
async fn watch_events_rebuild_the_configuration() {
    let pem = cert_pem("acme root");
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "nv2-system");
    let api: Api<ConfigMap> = Api::namespaced(client, "nv2-system");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(watch_configmaps(api, Arc::new(Sink(tx))));

    // Initial list: a policy and its store, plus an unrelated ConfigMap.
    answer(
        &mut handle,
        false,
        list(
            "10",
            vec![
                policy_cm("nv2-policy", "8", "r.io/a"),
                store_cm("9", &pem),
                cm("unrelated", "10", json!({}), json!({"x": "y"})),
            ],
        ),
    )
    .await;
    assert_eq!(next(&mut rx).await, Ok(vec!["r.io/a".to_owned()]));

    // Watch: the policy is modified, a bookmark passes, a second policy
    // ConfigMap appears (an error: the last good one stays), then goes away.
    answer(&mut handle, true, events(&[
        json!({"type": "MODIFIED", "object": policy_cm("nv2-policy", "11", "r.io/b")}),
        json!({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "12"}}}),
        json!({"type": "ADDED", "object": policy_cm("second-policy", "13", "r.io/c")}),
        json!({"type": "DELETED", "object": policy_cm("second-policy", "14", "r.io/c")}),
        json!({"type": "MODIFIED", "object": cm("unrelated", "15", json!({}), json!({"x": "z"}))}),
    ])).await;
    assert_eq!(next(&mut rx).await, Ok(vec!["r.io/b".to_owned()]));
    let err = next(&mut rx).await.unwrap_err();
    assert!(
        err.contains("two ConfigMaps are labelled nv2.io/trust-policy")
            && err.contains("second-policy"),
        "{err}"
    );
    assert_eq!(next(&mut rx).await, Ok(vec!["r.io/b".to_owned()]));

    // The next watch says 410 Gone: the watcher re-lists, and the new list
    // (a bad certificate in the store) is reported as an error.
    answer(
        &mut handle,
        true,
        events(&[json!({"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "too old resource version: 15 (20)", "reason": "Expired", "code": 410}})]),
    )
    .await;
    answer(
        &mut handle,
        false,
        list(
            "30",
            vec![
                policy_cm("nv2-policy", "11", "r.io/b"),
                store_cm(
                    "29",
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                ),
            ],
        ),
    )
    .await;
    let err = next(&mut rx).await.unwrap_err();
    assert!(
        err.contains("withdrawn") && err.contains("ConfigMap acme, key root.pem"),
        "a store that cannot be read trusts nothing: {err}"
    );
    // The store is fixed by a MODIFIED event on the new watch.
    answer(
        &mut handle,
        true,
        events(&[json!({"type": "MODIFIED", "object": store_cm("31", &pem)})]),
    )
    .await;
    assert_eq!(next(&mut rx).await, Ok(vec!["r.io/b".to_owned()]));
    // Deleting the policy ConfigMap leaves no policy: reported, not applied.
    answer(
        &mut handle,
        true,
        events(&[json!({"type": "DELETED", "object": policy_cm("nv2-policy", "32", "r.io/b")})]),
    )
    .await;
    let err = next(&mut rx).await.unwrap_err();
    assert!(
        err.contains("no ConfigMap labelled nv2.io/trust-policy"),
        "{err}"
    );
    task.abort();
}

fn configmap(v: Value) -> ConfigMap {
    serde_json::from_value(v).unwrap()
}

#[test]
fn build_policy_checks_every_configmap() {
    let pem = cert_pem("acme root");
    let good = [
        configmap(policy_cm("p", "1", "r.io/a")),
        configmap(store_cm("1", &pem)),
    ];
    let p = build_policy(good.iter()).unwrap();
    assert_eq!(p.policies()[0].trust.pinned().len(), 1);
    let cases = [
        (
            vec![configmap(store_cm("1", &pem))],
            "no ConfigMap labelled",
        ),
        (
            vec![
                configmap(cm(
                    "p",
                    "1",
                    json!({"nv2.io/trust-policy": "true"}),
                    json!({"other.json": "{}"}),
                )),
                configmap(store_cm("1", &pem)),
            ],
            "has no trustpolicy.json",
        ),
        (
            vec![configmap(policy_cm("p", "1", "r.io/a"))],
            "trust store \"ca:acme\" does not exist",
        ),
        (
            vec![
                configmap(policy_cm("p", "1", "r.io/a")),
                configmap(cm(
                    "acme",
                    "1",
                    json!({"nv2.io/trust-store": "tsa-ish"}),
                    json!({"a.pem": pem}),
                )),
            ],
            "must be ca or signingAuthority",
        ),
        (
            vec![
                configmap(cm(
                    "p",
                    "1",
                    json!({"nv2.io/trust-policy": "true"}),
                    json!({"trustpolicy.json": "{"}),
                )),
                configmap(store_cm("1", &pem)),
            ],
            "ConfigMap p: trustpolicy.json",
        ),
    ];
    for (cms, needle) in cases {
        // A missing store is not an error of the documents: it withdraws trust.
        let err = build_policy(cms.iter())
            .and_then(nv2::policy::TrustPolicy::complete)
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}
