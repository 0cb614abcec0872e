//! The real binary in cluster mode — no `--trust-dir` — against a stand-in
//! API server (plain HTTP on 127.0.0.1, reached through a kubeconfig): the
//! trust policy and store come from ConfigMaps, and with
//! `--workload-pull-secrets` a private image is read with the workload's own
//! pull secret.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::Env;
use common::registry::{Auth, TestRegistry};
use common::webhook::{Webhook, fixture};
use serde_json::{Value, json};

/// Answers the few API calls the webhook makes.
struct FakeApi {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

fn json_response(status: u16, v: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

impl FakeApi {
    fn start(configmaps: Value, secrets: Value, service_accounts: Value) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new((configmaps, secrets, service_accounts));
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let state = state.clone();
            async move {
                let path = uri.path().to_owned();
                let query = uri.query().unwrap_or_default().to_owned();
                let not_found = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404});
                if path == "/api/v1/namespaces/nv2-system/configmaps" {
                    if query.contains("watch=true") {
                        // A watch that stays open with nothing new.
                        let stream = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
                        return Response::builder().status(200).body(Body::from_stream(stream)).unwrap();
                    }
                    return json_response(200, json!({"apiVersion": "v1", "kind": "ConfigMapList",
                        "metadata": {"resourceVersion": "5"}, "items": state.0}));
                }
                let parts: Vec<&str> = path.split('/').collect();
                // /api/v1/namespaces/{ns}/{kind}/{name}
                if parts.len() == 7 {
                    let (ns, kind, name) = (parts[4], parts[5], parts[6]);
                    let table = match kind {
                        "secrets" => &state.1,
                        "serviceaccounts" => &state.2,
                        _ => return json_response(404, not_found),
                    };
                    if let Some(obj) = table.get(format!("{ns}/{name}")) {
                        return json_response(200, obj.clone());
                    }
                }
                json_response(404, not_found)
            }
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApi {
            port,
            _runtime: runtime,
        }
    }
}

#[test]
fn configmaps_and_workload_pull_secrets_in_cluster_mode() {
    let env = Env::new();
    env.umoci_image("hello", "dev", "a");
    env.nv2(&[
        "keygen",
        "--cn",
        "localhost",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
    ])
    .ok();
    let reg = TestRegistry::start(Auth::Htpasswd {
        user: "team".into(),
        password: "team-pw".into(),
    });
    reg.publish_signed(&env, "hello-world", "v1.0", Some(("team", "team-pw")));

    let cert = String::from_utf8(env.read("cert.pem")).unwrap();
    let policy = json!({"version": "1.0", "trustPolicies": [{"name": "all", "registryScopes": ["*"],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:team-ca"], "trustedIdentities": ["*"]}]});
    let configmaps = json!([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nv2-policy", "namespace": "nv2-system", "resourceVersion": "3",
            "labels": {"nv2.io/trust-policy": "true"}}, "data": {"trustpolicy.json": policy.to_string()}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-ca", "namespace": "nv2-system", "resourceVersion": "4",
            "labels": {"nv2.io/trust-store": "ca"}}, "data": {"cert.pem": cert}},
    ]);
    let dockerconfig =
        json!({"auths": {reg.host.clone(): {"auth": B64.encode("team:team-pw")}}}).to_string();
    let secrets = json!({"default/regcred": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": B64.encode(dockerconfig)}}});
    let service_accounts = json!({"default/default": {"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "default"}, "imagePullSecrets": [{"name": "regcred"}]}});
    let api = FakeApi::start(configmaps, secrets, service_accounts);
    let kubeconfig = env.write(
        "kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\nusers:\n- name: u\n  user:\n    token: test-token\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\ncurrent-context: c\n",
            api.port
        ),
    );
    let kubeconfig = kubeconfig.display().to_string();
    let wh = Webhook::start_with(
        &[
            "--namespace",
            "nv2-system",
            "--workload-pull-secrets",
            "--insecure-registry",
            &reg.host,
            "--deadline",
            "3s",
        ],
        &[("KUBECONFIG", kubeconfig.as_str())],
    );
    wh.wait_ready();
    // A pod in `default`: its service account's pull secret opens the registry.
    let review = fixture("pod-create.json", &reg.host);
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], true, "{resp}");
    // The same image from a namespace without pull secrets: no access, denied.
    let mut other = review.clone();
    other["request"]["namespace"] = json!("other");
    other["request"]["uid"] = json!("other-ns");
    let resp = wh.review("/validate", &other);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("requires credentials"),
        "{resp}"
    );
    // The policy came from the ConfigMaps (readiness needed it) and is valid.
    assert!(wh.metrics().contains("nv2_config_valid 1"));
    assert!(!wh.logs().contains("team-pw"), "a secret reached the logs");
}
