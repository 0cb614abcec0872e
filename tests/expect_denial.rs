//! `nv2 expect-denial` (the chart's `helm test`) against a stand-in API
//! server that does what the real one does with a dry-run Pod create: sends
//! it as an AdmissionReview to the real nv2 webhook and answers 403 with
//! `admission webhook "validate.nv2.io" denied the request: …` or 201.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, Uri};
use common::Env;
use common::webhook::{Webhook, client_trusting, signed_registry};
use serde_json::{Value, json};

struct StandInApi {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

fn reply(status: u16, v: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

impl StandInApi {
    /// `forbid`: answer every create with an RBAC refusal instead.
    fn start(webhook_url: String, ca_pem: &str, forbid: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = client_trusting(ca_pem);
        let shared = Arc::new((client, webhook_url));
        let app = axum::Router::new().fallback(move |uri: Uri, body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                let parts: Vec<&str> = uri.path().split('/').collect();
                let query = uri.query().unwrap_or_default().to_owned();
                if parts.len() != 6 || parts[5] != "pods" {
                    return reply(404, json!({"kind": "Status", "code": 404, "message": "not found"}));
                }
                assert!(query.contains("dryRun=All"), "not a dry run: {query}");
                if forbid {
                    return reply(403, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "Forbidden", "code": 403,
                        "message": "pods is forbidden: User \"system:serviceaccount:nv2-system:nv2-test\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""}));
                }
                let mut pod: Value = serde_json::from_slice(&body).unwrap();
                pod["metadata"]["namespace"] = json!(parts[4]);
                pod["metadata"]["name"] = json!("nv2-expect-denial-x7k2p");
                let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "request": {"uid": "e1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": parts[4], "operation": "CREATE", "dryRun": true, "object": pod}});
                let (client, url) = &*shared;
                let sent = client.post(url).body(review.to_string()).send().await.unwrap();
                let answer: Value = serde_json::from_str(&sent.text().await.unwrap()).unwrap();
                if answer["response"]["allowed"] == true {
                    reply(201, pod)
                } else {
                    let why = answer["response"]["status"]["message"].as_str().unwrap_or_default();
                    reply(403, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "Forbidden", "code": 403,
                        "message": format!("admission webhook \"validate.nv2.io\" denied the request: {why}")}))
                }
            }
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandInApi {
            port,
            _runtime: runtime,
        }
    }
}

fn kubeconfig(env: &Env, port: u16) -> String {
    env.write(
        "kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: s\n    user: u\ncurrent-context: c\n"
        ),
    )
    .display()
    .to_string()
}

fn expect_denial(kubeconfig: &str, image: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nv2"))
        .args(["expect-denial", "--namespace", "default", "--image", image])
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap()
}

#[test]
fn passes_only_when_nv2_denies_the_unsigned_pod() {
    let env = Env::new();
    let reg = signed_registry(&env);
    let wh = Webhook::start(&env.path("trust"), &["--insecure-registry", &reg.host]);
    wh.wait_ready();
    let api = StandInApi::start(wh.url("/validate"), &wh.tls.ca_pem, false);
    let kc = kubeconfig(&env, api.port);

    let unsigned = expect_denial(&kc, &format!("{}/unsigned:v1", reg.host));
    let out = String::from_utf8_lossy(&unsigned.stdout);
    assert_eq!(
        unsigned.status.code(),
        Some(0),
        "{out} {}",
        String::from_utf8_lossy(&unsigned.stderr)
    );
    assert!(
        out.contains("denied as expected") && out.contains("no signatures are linked"),
        "{out}"
    );

    let signed = expect_denial(&kc, &format!("{}/hello-world:v1.0", reg.host));
    let err = String::from_utf8_lossy(&signed.stderr);
    assert_eq!(signed.status.code(), Some(1), "{err}");
    assert!(err.contains("the Pod was admitted"), "{err}");

    let rbac = StandInApi::start(wh.url("/validate"), &wh.tls.ca_pem, true);
    let forbidden = expect_denial(&kubeconfig(&env, rbac.port), "r.io/x:1");
    let err = String::from_utf8_lossy(&forbidden.stderr);
    assert_eq!(forbidden.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not by an admission webhook") && err.lines().count() == 1,
        "{err}"
    );

    // An API server that never answers: bounded by --timeout, exit 2.
    let stalled = common::standin::StandIn::http(|_| {
        std::thread::sleep(std::time::Duration::from_secs(5));
        common::standin::Reply::status(504)
    });
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"))
        .args([
            "expect-denial",
            "--namespace",
            "default",
            "--image",
            "r.io/x:1",
            "--timeout",
            "2s",
        ])
        .env("KUBECONFIG", kubeconfig(&env, stalled.port))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("did not answer within"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let nowhere = expect_denial(&kubeconfig(&env, common::registry::free_port()), "r.io/x:1");
    let err = String::from_utf8_lossy(&nowhere.stderr);
    assert_eq!(nowhere.status.code(), Some(2), "{err}");
    assert!(err.starts_with("nv2: cannot ask the API server"), "{err}");
}
