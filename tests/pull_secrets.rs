//! Workload pull secrets: read through the API (kube-rs's mocked service plays
//! the API server), and never let one tenant's credentials lend a verdict to
//! another tenant's request (a real htpasswd registry).

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::Env;
use common::registry::{Auth, TestRegistry};
use http::{Request, Response};
use kube::client::Body;
use nv2::admission::{CacheTtls, Decision, Engine};
use nv2::oci::{Credentials, DockerConfig, RegistryOptions};
use serde_json::json;

#[tokio::test]
async fn pull_secrets_of_the_pod_and_its_service_account_are_read() {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "team-a");
    let reader = nv2::admission::PullSecrets::new(client, Duration::from_secs(30));
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (req, send) = handle.next_request().await.unwrap();
            let path = req.uri().path().to_owned();
            seen.push(path.clone());
            let auth = B64.encode("tenant:pw");
            let config =
                json!({"auths": {"registry.team-a.example": {"auth": auth}}, "credsStore": "evil"})
                    .to_string();
            let (status, body) = match path.as_str() {
                "/api/v1/namespaces/team-a/serviceaccounts/builder" => (
                    200,
                    json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "builder", "namespace": "team-a"}, "imagePullSecrets": [{"name": "sa-secret"}]}),
                ),
                "/api/v1/namespaces/team-a/secrets/pod-secret" => (
                    200,
                    json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "pod-secret", "namespace": "team-a"}, "type": "kubernetes.io/dockerconfigjson",
                    "data": {".dockerconfigjson": B64.encode(config)}}),
                ),
                _ => (
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "secrets \"sa-secret\" not found", "reason": "NotFound", "code": 404}),
                ),
            };
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
        seen
    });
    let configs = reader
        .for_workload("team-a", &["pod-secret".to_owned()], "builder")
        .await
        .unwrap();
    assert_eq!(configs.len(), 1, "the missing secret is skipped");
    let creds = Credentials::anonymous().layered_under(configs);
    let basic = creds.for_host("registry.team-a.example").unwrap();
    assert_eq!(
        (basic.username.as_str(), basic.password.as_str()),
        ("tenant", "pw")
    );
    // A tenant's config never runs a credential helper.
    assert!(creds.for_host("other.example").is_none());
    let seen = server.await.unwrap();
    assert_eq!(seen[0], "/api/v1/namespaces/team-a/serviceaccounts/builder");
    // Cached: a second review of the same workload makes no API call.
    let again = tokio::time::timeout(
        Duration::from_secs(2),
        reader.for_workload("team-a", &["pod-secret".to_owned()], "builder"),
    )
    .await
    .expect("served from the cache")
    .unwrap();
    assert_eq!(again.len(), 1);
}

#[test]
fn one_tenants_credentials_never_lend_a_verdict_to_another() {
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
        user: "tenant".into(),
        password: "tenant-pw".into(),
    });
    reg.publish_signed(&env, "private", "v1", Some(("tenant", "tenant-pw")));
    let trust = env.path("trust");
    common::webhook::write_trust_dir(
        &trust,
        &json!({"version": "1.0", "trustPolicies": [{"name": "all", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"}, "trustStores": ["ca:t"], "trustedIdentities": ["*"]}]}),
        "t",
        &[&env.path("cert.pem")],
    );
    let options = RegistryOptions {
        insecure_hosts: vec![reg.host.clone()],
        ..RegistryOptions::default()
    };
    let engine = Engine::new(options, CacheTtls::default(), None).unwrap();
    engine.set_policy(nv2::policy::TrustPolicy::load_dir(&trust).unwrap());
    let image = format!("{}/private:v1", reg.host);
    let tenant = |user: &str, pw: &str| {
        let auth = B64.encode(format!("{user}:{pw}"));
        let cfg = DockerConfig::from_json(
            json!({"auths": {reg.host.clone(): {"auth": auth}}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        Credentials::anonymous().layered_under(vec![cfg])
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let anonymous = engine.check(&image).await;
        assert!(
            matches!(&anonymous.decision, Decision::Deny(r) if r.contains("requires credentials")),
            "{anonymous:?}"
        );
        let with_secret = engine
            .check_with(&image, Some(&tenant("tenant", "tenant-pw")))
            .await;
        assert_eq!(with_secret.decision, Decision::Allow, "{with_secret:?}");
        // The verdict obtained with the tenant's secret is not served to others.
        let again = engine.check(&image).await;
        assert!(matches!(again.decision, Decision::Deny(_)), "{again:?}");
        let wrong = engine
            .check_with(&image, Some(&tenant("tenant", "guess")))
            .await;
        assert!(
            matches!(&wrong.decision, Decision::Deny(r) if r.contains("authentication failed")),
            "{wrong:?}"
        );
        // The same credentials hit the cache.
        let cached = engine
            .check_with(&image, Some(&tenant("tenant", "tenant-pw")))
            .await;
        assert_eq!(cached.decision, Decision::Allow);
    });
}
