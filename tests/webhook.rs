//! The admission webhook end to end: the real binary over real HTTPS, real
//! AdmissionReview JSON, images signed and linked in a real registry.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::proxy::{Fault, Proxy};
use common::registry::{Auth, TestRegistry};
use common::webhook::{
    Webhook, apply_patch, client_trusting, fixture, tls_material, write_trust_dir,
};
use serde_json::{Value, json};

/// A registry holding hello-world:v1.0 (signed, linked) and unsigned:v1, and
/// the signer's certificate.
struct World {
    env: Env,
    reg: TestRegistry,
    digest: String,
}

fn world() -> World {
    let env = Env::new();
    env.umoci_image("hello", "dev", "a");
    env.umoci_image("hello", "other", "b");
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
    let reg = TestRegistry::start(Auth::None);
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "hw.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    reg.skopeo_copy(&env.layout("dev"), "hello-world:v1.0", &[]);
    reg.skopeo_copy(&env.layout("other"), "unsigned:v1", &[]);
    let target = format!("{}:v1.0", reg.url("hello-world"));
    env.nv2(&[
        "push",
        "hw.nv2",
        "--insecure",
        "--link",
        &target,
        &reg.url("hello-world"),
    ])
    .ok();
    let digest = env
        .nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
        .ok();
    World { env, reg, digest }
}

fn strict_policy(scopes: &[String]) -> Value {
    json!({"version": "1.0", "trustPolicies": [
        {"name": "signed", "registryScopes": scopes, "signatureVerification": {"level": "strict"},
         "trustStores": ["ca:test"], "trustedIdentities": ["*"]}]})
}

impl World {
    fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.reg.host)
    }

    /// A trust dir where hello-world and unsigned are strict, and `extra` policies follow.
    fn trust_dir(&self, name: &str, extra: Vec<Value>) -> std::path::PathBuf {
        let dir = self.env.path(name);
        let mut policy = strict_policy(&[self.repo("hello-world"), self.repo("unsigned")]);
        policy["trustPolicies"]
            .as_array_mut()
            .unwrap()
            .extend(extra);
        write_trust_dir(&dir, &policy, "test", &[&self.env.path("cert.pem")]);
        dir
    }

    fn webhook(&self, trust_dir: &std::path::Path, extra: &[&str]) -> Webhook {
        let mut args = vec!["--insecure-registry", &self.reg.host, "--deadline", "3s"];
        args.extend(extra);
        Webhook::start(trust_dir, &args)
    }
}

#[test]
fn signed_pod_is_allowed_and_pinned() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    let review = fixture("pod-create.json", &w.reg.host);
    let resp = wh.review("/mutate", &review);
    assert_eq!(resp["allowed"], true, "{resp}");
    let mut object = review["request"]["object"].clone();
    assert_eq!(apply_patch(&mut object, &resp), 1);
    let pinned = object["spec"]["containers"][0]["image"].as_str().unwrap();
    assert_eq!(
        pinned,
        format!("{}/hello-world:v1.0@{}", w.reg.host, w.digest)
    );
    // The pinned reference is a valid reference to the verified digest.
    let r = nv2::oci::Reference::parse(pinned).unwrap();
    assert_eq!(r.digest().unwrap().as_str(), w.digest);
    assert!(
        resp["auditAnnotations"]["verified-images"]
            .as_str()
            .unwrap()
            .contains(&w.digest)
    );
    // /validate allows without a patch; the pinned pod verifies too.
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("patch").is_none());
    let mut pinned_review = review.clone();
    pinned_review["request"]["object"] = object;
    let resp = wh.review("/mutate", &pinned_review);
    assert_eq!(resp["allowed"], true);
    assert!(
        resp.get("patch").is_none(),
        "an already pinned image is left alone"
    );
    // One log line per review, with uid and decision, and no secrets.
    let logs = wh.logs();
    assert!(
        logs.contains("0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0001")
            && logs.contains("\"decision\":\"allowed\""),
        "{logs}"
    );
}

#[test]
fn unsigned_and_partly_unsigned_pods_are_denied_with_reasons() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    for path in ["/validate", "/mutate"] {
        let resp = wh.review(path, &fixture("pod-create-unsigned.json", &w.reg.host));
        assert_eq!(resp["allowed"], false);
        assert_eq!(resp["status"]["code"], 403);
        let msg = resp["status"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!(
                "image {}/unsigned:v1: no signatures are linked",
                w.reg.host
            )),
            "{msg}"
        );
        assert!(resp.get("patch").is_none());
    }
    let resp = wh.review(
        "/validate",
        &fixture("pod-create-two-images.json", &w.reg.host),
    );
    assert_eq!(resp["allowed"], false);
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(msg.contains("unsigned:v1"), "{msg}");
    assert!(
        !msg.contains("hello-world"),
        "the signed image is not blamed: {msg}"
    );
    // dryRun changes nothing about the decision.
    let resp = wh.review("/validate", &fixture("pod-create-dryrun.json", &w.reg.host));
    assert_eq!(resp["allowed"], false);
    // An update that swaps in an unsigned image is denied too.
    let resp = wh.review("/validate", &fixture("pod-update.json", &w.reg.host));
    assert_eq!(resp["allowed"], false);
}

#[test]
fn templates_are_verified_but_pinned_only_on_request() {
    let w = world();
    let trust = w.trust_dir("trust", vec![]);
    let wh = w.webhook(&trust, &[]);
    let deployment = fixture("deployment-create.json", &w.reg.host);
    let resp = wh.review("/mutate", &deployment);
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(
        resp.get("patch").is_none(),
        "templates are not rewritten by default (GitOps drift)"
    );
    let resp = wh.review("/validate", &fixture("cronjob-create.json", &w.reg.host));
    assert_eq!(resp["allowed"], false);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("unsigned:v1")
    );
    drop(wh);
    let wh = w.webhook(&trust, &["--pin-templates"]);
    let resp = wh.review("/mutate", &deployment);
    let mut object = deployment["request"]["object"].clone();
    assert_eq!(apply_patch(&mut object, &resp), 1);
    assert!(
        object["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .ends_with(&w.digest)
    );
}

#[test]
fn ephemeral_containers_subresource_checks_the_new_containers() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    // The pod's own container is unsigned, the debug container is signed:
    // only the containers being added are admitted here.
    let resp = wh.review(
        "/validate",
        &fixture("pod-ephemeralcontainers.json", &w.reg.host),
    );
    assert_eq!(resp["allowed"], true, "{resp}");
    let mut review = fixture("pod-ephemeralcontainers.json", &w.reg.host);
    review["request"]["object"]["spec"]["ephemeralContainers"][0]["image"] =
        json!(format!("{}/unsigned:v1", w.reg.host));
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], false);
}

#[test]
fn other_kinds_and_operations_pass_untouched() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    for name in ["pod-delete.json", "service-create.json"] {
        let resp = wh.review("/mutate", &fixture(name, &w.reg.host));
        assert_eq!(resp["allowed"], true, "{name}");
        assert!(resp.get("patch").is_none() && resp.get("warnings").is_none());
    }
}

#[test]
fn audit_warns_no_scope_denies_skip_allows() {
    let w = world();
    let audit = json!({"name": "audit", "registryScopes": [w.repo("audited")], "signatureVerification": {"level": "audit"},
        "trustStores": ["ca:test"], "trustedIdentities": ["*"]});
    let skip = json!({"name": "skip", "registryScopes": [w.repo("skipped")], "signatureVerification": {"level": "skip"}});
    let wh = w.webhook(&w.trust_dir("trust", vec![audit, skip]), &[]);
    w.reg.skopeo_copy(&w.env.layout("other"), "audited:v1", &[]);
    let mut review = fixture("pod-create-unsigned.json", &w.reg.host);
    review["request"]["object"]["spec"]["containers"][0]["image"] =
        json!(format!("{}/audited:v1", w.reg.host));
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], true, "{resp}");
    let warning = resp["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("audited:v1") && warning.contains("no signatures are linked"),
        "{warning}"
    );
    review["request"]["object"]["spec"]["containers"][0]["image"] =
        json!(format!("{}/skipped:v1", w.reg.host));
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("warnings").is_none());
    review["request"]["object"]["spec"]["containers"][0]["image"] = json!("nginx:1.25");
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], false);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no trust policy scope matches docker.io/library/nginx")
    );
}

#[test]
fn registry_down_or_stalled_is_denied_before_the_deadline() {
    let w = world();
    let proxy = Proxy::start(w.reg.port);
    proxy.set_fault("/manifests/", Fault::Delay(Duration::from_secs(30)));
    let dead_port = common::registry::free_port();
    let dead = format!("localhost:{dead_port}");
    let stalled = proxy.host();
    let policy = strict_policy(&[
        format!("{stalled}/hello-world"),
        format!("{dead}/hello-world"),
    ]);
    let dir = w.env.path("trust-hostile");
    write_trust_dir(&dir, &policy, "test", &[&w.env.path("cert.pem")]);
    let wh = Webhook::start(
        &dir,
        &[
            "--insecure-registry",
            &stalled,
            "--insecure-registry",
            &dead,
            "--deadline",
            "2s",
        ],
    );
    // The review's deadline and the request timeout are the same 2 s: which
    // of the two fires first within one timer tick is a race, and either
    // message says why.
    for (host, needles) in [
        (&stalled, &["did not finish within 2s", "timed out"][..]),
        (&dead, &["cannot reach the registry"][..]),
    ] {
        let review = fixture("pod-create.json", host);
        let start = Instant::now();
        let resp = wh.review("/validate", &review);
        let took = start.elapsed();
        assert_eq!(resp["allowed"], false, "{resp}");
        let msg = resp["status"]["message"].as_str().unwrap();
        assert!(needles.iter().any(|n| msg.contains(n)), "{msg}");
        assert!(took < Duration::from_secs(4), "{host} took {took:?}");
    }
}

#[test]
fn malformed_requests_are_refused_never_allowed() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    let good = fixture("pod-create-unsigned.json", &w.reg.host);
    let mut wrong_version = good.clone();
    wrong_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut no_uid = good.clone();
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    let mut empty_uid = good.clone();
    empty_uid["request"]["uid"] = json!("");
    let mut bad_image = good.clone();
    bad_image["request"]["object"]["spec"]["containers"][0]["image"] = json!(42);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"{not json".to_vec(), 400),
        (b"".to_vec(), 400),
        (serde_json::to_vec(&wrong_version).unwrap(), 400),
        (serde_json::to_vec(&no_uid).unwrap(), 400),
        (serde_json::to_vec(&empty_uid).unwrap(), 400),
        (vec![b' '; (3 << 20) + 1], 413),
    ];
    for (body, want) in cases {
        let (status, text) = wh.post_raw("/validate", body);
        assert_eq!(status, want, "{text}");
        assert!(!text.contains("\"allowed\":true"));
    }
    let resp = wh.review("/validate", &bad_image);
    assert_eq!(resp["allowed"], false);
    let resp = wh.review("/validate", &{
        let mut v = good.clone();
        v["request"]["object"]["spec"]["containers"][0]["image"] = json!("Not A Valid Ref!");
        v
    });
    assert_eq!(resp["allowed"], false);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid image reference")
    );
    // Still serving.
    assert_eq!(wh.get("/healthz").0, 200);
}

#[test]
fn policy_changes_on_disk_apply_and_bad_ones_are_kept_out() {
    let w = world();
    let dir = w.trust_dir("trust", vec![]);
    let wh = w.webhook(&dir, &[]);
    let review = fixture("pod-create.json", &w.reg.host);
    assert_eq!(wh.review("/validate", &review)["allowed"], true);
    assert!(wh.metrics().contains("nv2_config_valid 1"));
    // A bad change: the last good policy stays, the metric says so.
    std::fs::write(dir.join("trustpolicy.json"), b"{ broken").unwrap();
    wait_for(
        || wh.metrics().contains("nv2_config_valid 0"),
        "bad config to be noticed",
    );
    assert_eq!(wh.review("/validate", &review)["allowed"], true);
    assert!(wh.logs().contains("keeping the last good configuration"));
    // A good change that drops the scope: the next review uses it.
    let other = strict_policy(&["example.com/other".to_owned()]);
    std::fs::write(
        dir.join("trustpolicy.json"),
        serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    wait_for(
        || wh.review("/validate", &review)["allowed"] == false,
        "the new policy to deny",
    );
    let resp = wh.review("/validate", &review);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no trust policy scope matches")
    );
    assert!(wh.metrics().contains("nv2_config_generation 2"));
}

#[test]
fn a_trust_store_deleted_emptied_or_broken_withdraws_its_trust() {
    let w = world();
    let dir = w.trust_dir("trust", vec![]);
    let wh = w.webhook(&dir, &[]);
    let review = fixture("pod-create.json", &w.reg.host);
    let cert = dir.join("x509/ca/test/cert0.pem");
    let good_cert = std::fs::read(&cert).unwrap();
    let policy = dir.join("trustpolicy.json");
    let good_policy = std::fs::read(&policy).unwrap();
    type Breakage = (&'static str, fn(&std::path::Path, &std::path::Path));
    let breakages: [Breakage; 6] = [
        ("deleted", |c, _| std::fs::remove_file(c).unwrap()),
        ("emptied", |c, _| std::fs::write(c, b"").unwrap()),
        ("overwritten with text", |c, _| {
            std::fs::write(c, b"revoked").unwrap()
        }),
        ("cut in half", |c, _| {
            let pem = std::fs::read(c).unwrap();
            std::fs::write(c, &pem[..pem.len() / 2]).unwrap()
        }),
        ("deleted while the policy document broke", |c, p| {
            std::fs::remove_file(c).unwrap();
            std::fs::write(p, b"{ broken").unwrap();
        }),
        // A FIFO is never opened for a blocking read: before, one froze the
        // webhook's async workers for good (found by attacking the binary).
        ("replaced by a FIFO", |c, _| {
            std::fs::remove_file(c).unwrap();
            assert!(
                std::process::Command::new("mkfifo")
                    .arg(c)
                    .status()
                    .unwrap()
                    .success()
            );
        }),
    ];
    for (what, breakage) in breakages {
        let _ = std::fs::remove_file(&cert);
        std::fs::write(&cert, &good_cert).unwrap();
        std::fs::write(&policy, &good_policy).unwrap();
        wait_for(
            || wh.review("/validate", &review)["allowed"] == true,
            "the restored store to vouch again",
        );
        breakage(&cert, &policy);
        wait_for(
            || wh.review("/validate", &review)["allowed"] == false,
            &format!("the {what} store to stop vouching"),
        );
        assert!(wh.metrics().contains("nv2_config_valid 0"), "{what}");
        assert_eq!(
            wh.get("/healthz").0,
            200,
            "{what}: health checks still answered"
        );
    }
    assert!(
        wh.logs().contains("its trust is withdrawn"),
        "{}",
        wh.logs()
    );
    assert_eq!(wh.get("/readyz").0, 200, "still serving (denying)");
}

#[test]
fn not_ready_without_a_valid_policy() {
    let w = world();
    let dir = w.env.path("empty-trust");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("trustpolicy.json"),
        br#"{"version":"1.0","trustPolicies":[{"name":"x"}]}"#,
    )
    .unwrap();
    let wh = w.webhook(&dir, &[]);
    assert_eq!(wh.get("/readyz").0, 503);
    let resp = wh.review("/validate", &fixture("pod-create.json", &w.reg.host));
    assert_eq!(resp["allowed"], false);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no valid trust policy")
    );
    // Fix it: ready.
    write_trust_dir(
        &dir,
        &strict_policy(&[w.repo("hello-world")]),
        "test",
        &[&w.env.path("cert.pem")],
    );
    wait_for(|| wh.get("/readyz").0 == 200, "readiness");
    assert_eq!(
        wh.review("/validate", &fixture("pod-create.json", &w.reg.host))["allowed"],
        true
    );
}

#[test]
fn rotated_certificates_serve_new_handshakes() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    let new = tls_material("rotated CA");
    let new_client = client_trusting(&new.ca_pem);
    let url = wh.url("/healthz");
    let probe = |client: &reqwest::Client| {
        wh.block_on(async {
            client
                .get(&url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        })
    };
    assert_eq!(probe(&new_client), None, "the new CA is not trusted yet");
    // A bad pair is refused: the old certificate keeps serving.
    std::fs::write(wh.dir.path().join("tls.crt"), &new.cert_pem).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let old_client = client_trusting(&wh.tls.ca_pem);
    assert_eq!(probe(&old_client), Some(200));
    std::fs::write(wh.dir.path().join("tls.key"), &new.key_pem).unwrap();
    wait_for(
        || probe(&client_trusting(&new.ca_pem)) == Some(200),
        "the rotated certificate",
    );
    assert_eq!(
        probe(&client_trusting(&wh.tls.ca_pem)),
        None,
        "old certificate still served"
    );
}

#[test]
fn fifty_concurrent_reviews_of_one_unseen_image_resolve_it_once() {
    let w = world();
    let proxy = Proxy::start(w.reg.port);
    let host = proxy.host();
    let dir = w.env.path("trust-proxy");
    write_trust_dir(
        &dir,
        &strict_policy(&[format!("{host}/hello-world")]),
        "test",
        &[&w.env.path("cert.pem")],
    );
    // Slow the registry a little so the reviews overlap.
    proxy.set_fault("/manifests/v1.0", Fault::Delay(Duration::from_millis(300)));
    let wh = Webhook::start(&dir, &["--insecure-registry", &host]);
    proxy.reset();
    let review = fixture("pod-create.json", &host);
    let reviews: Vec<Value> = (0..50)
        .map(|i| {
            let mut r = review.clone();
            r["request"]["uid"] = json!(format!("uid-{i}"));
            r
        })
        .collect();
    let responses = wh.concurrent_reviews("/validate", reviews);
    assert!(
        responses.iter().all(|r| r["allowed"] == true),
        "{responses:?}"
    );
    let tag_lookups = proxy
        .log()
        .iter()
        .filter(|l| l.contains("/manifests/v1.0"))
        .count();
    assert_eq!(tag_lookups, 1, "{:#?}", proxy.log());
    assert!(proxy.count() <= 4, "{:#?}", proxy.log());
    let metrics = wh.metrics();
    assert!(
        metrics.contains("nv2_cache_lookups_total{cache=\"verdict\",result=\"hit\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("nv2_admission_requests_total{kind=\"Pod\",operation=\"CREATE\",decision=\"allowed\"} 50"), "{metrics}");
    assert!(
        metrics.contains("nv2_registry_requests_total{host="),
        "{metrics}"
    );
}

#[test]
fn serves_http2_and_tls12_plus_only() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    let ca = wh.dir.path().join("ca.pem");
    std::fs::write(&ca, &wh.tls.ca_pem).unwrap();
    let curl = |args: &[&str]| {
        std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_version}", "--cacert"])
            .arg(&ca)
            .args(args)
            .arg(wh.url("/healthz"))
            .output()
            .expect("curl")
    };
    let out = curl(&["--http2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2");
    let out = curl(&["--http1.1"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.1");
    let out = curl(&["--tlsv1.1", "--tls-max", "1.1"]);
    assert!(!out.status.success(), "TLS 1.1 must be refused");
    // Plain HTTP is not served.
    let plain =
        wh.block_on(async { reqwest::get(format!("http://127.0.0.1:{}/healthz", wh.port)).await });
    assert!(!plain.map(|r| r.status().is_success()).unwrap_or(false));
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_cached_pass_does_not_outlive_the_signature() {
    let w = world();
    w.env
        .nv2(&[
            "sign",
            "-m",
            "x509",
            "-k",
            "key.pem",
            "-e",
            "3s",
            "-o",
            "short.nv2",
            "oci-layout:./hello:other",
        ])
        .ok();
    w.reg.skopeo_copy(&w.env.layout("other"), "short:v1", &[]);
    let target = format!("{}:v1", w.reg.url("short"));
    w.env
        .nv2(&[
            "push",
            "short.nv2",
            "--insecure",
            "--link",
            &target,
            &w.reg.url("short"),
        ])
        .ok();
    let dir = w.env.path("trust-short");
    write_trust_dir(
        &dir,
        &strict_policy(&[w.repo("short")]),
        "test",
        &[&w.env.path("cert.pem")],
    );
    // The verified-verdict TTL (1h here) is longer than the signature's life.
    let wh = w.webhook(&dir, &["--cache-ttl", "1h"]);
    let mut review = fixture("pod-create.json", &w.reg.host);
    review["request"]["object"]["spec"]["containers"][0]["image"] =
        json!(format!("{}/short:v1", w.reg.host));
    assert_eq!(wh.review("/validate", &review)["allowed"], true);
    std::thread::sleep(Duration::from_secs(4));
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], false, "a cached pass outlived exp: {resp}");
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{resp}"
    );
}

/// A pod review with these containers and volumes, as the API server sends it.
fn pod_review(containers: Value, volumes: Value) -> Value {
    let mut review = fixture("pod-create.json", "unused");
    review["request"]["object"]["spec"]["containers"] = containers;
    review["request"]["object"]["spec"]["volumes"] = volumes;
    review
}

#[test]
fn another_spelling_of_a_strict_registry_is_still_strict() {
    let w = world();
    // The registry's repositories are strict; everything else only audited.
    let catch_all = json!({"name": "catch-all", "registryScopes": ["*"],
        "signatureVerification": {"level": "audit"}, "trustStores": ["ca:test"], "trustedIdentities": ["*"]});
    let wh = w.webhook(&w.trust_dir("trust", vec![catch_all]), &[]);
    let (ip, port) = w.reg.host.rsplit_once(':').unwrap();
    for spelling in [format!("{ip}:0{port}"), format!("{ip}:000{port}")] {
        let image = format!("{spelling}/unsigned:v1");
        let review = pod_review(json!([{"name": "a", "image": image}]), json!([]));
        let resp = wh.review("/validate", &review);
        assert_eq!(resp["allowed"], false, "{image}: {resp}");
        let msg = resp["status"]["message"].as_str().unwrap();
        assert!(msg.contains("no signatures are linked"), "{msg}");
    }
    // A spelling that cannot be made canonical is denied, never audited.
    let review = pod_review(
        json!([{"name": "a", "image": format!("{ip}.:{port}/unsigned:v1")}]),
        json!([]),
    );
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], false, "{resp}");
    // The signed image in another spelling is verified and pinned canonically.
    let review = pod_review(
        json!([{"name": "a", "image": format!("{ip}:0{port}/hello-world:v1.0")}]),
        json!([]),
    );
    let resp = wh.review("/mutate", &review);
    assert_eq!(resp["allowed"], true, "{resp}");
    let mut object = review["request"]["object"].clone();
    apply_patch(&mut object, &resp);
    assert_eq!(
        object["spec"]["containers"][0]["image"],
        format!("{}/hello-world:v1.0@{}", w.reg.host, w.digest)
    );
}

#[test]
fn an_image_volume_is_verified_and_pinned_like_a_container() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    let signed = format!("{}/hello-world:v1.0", w.reg.host);
    let unsigned = format!("{}/unsigned:v1", w.reg.host);
    let review = pod_review(
        json!([{"name": "a", "image": signed}]),
        json!([{"name": "data", "image": {"reference": unsigned, "pullPolicy": "IfNotPresent"}}]),
    );
    let resp = wh.review("/validate", &review);
    assert_eq!(resp["allowed"], false, "{resp}");
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(msg.contains("unsigned:v1"), "{msg}");
    let review = pod_review(
        json!([{"name": "a", "image": signed}]),
        json!([{"name": "data", "image": {"reference": signed}}]),
    );
    let resp = wh.review("/mutate", &review);
    assert_eq!(resp["allowed"], true, "{resp}");
    let mut object = review["request"]["object"].clone();
    assert_eq!(apply_patch(&mut object, &resp), 2);
    assert_eq!(
        object["spec"]["volumes"][0]["image"]["reference"],
        format!("{signed}@{}", w.digest)
    );
}

#[test]
fn a_request_naming_too_many_images_is_denied_before_any_work() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &[]);
    let containers: Vec<Value> = (0..=nv2::admission::MAX_IMAGES_PER_REVIEW)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("{}/img{i}:v1", w.reg.host)}))
        .collect();
    let resp = wh.review("/validate", &pod_review(json!(containers), json!([])));
    assert_eq!(resp["allowed"], false, "{resp}");
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(msg.contains("distinct images"), "{msg}");
    // The same image many times is one image.
    let containers: Vec<Value> = (0..100)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("{}/hello-world:v1.0", w.reg.host)}))
        .collect();
    let resp = wh.review("/validate", &pod_review(json!(containers), json!([])));
    assert_eq!(resp["allowed"], true, "{resp}");
}

/// UPDATEs check only images that are new or changed: a ReplicaSet running
/// an image that no longer verifies can scale down, a Deployment can roll
/// away from it, a running Pod can be relabelled and lose its finalizer —
/// and nothing a running Pod already has is rewritten.
#[test]
fn updates_check_only_new_or_changed_images() {
    let w = world();
    let wh = w.webhook(&w.trust_dir("trust", vec![]), &["--pin-templates"]);
    for (name, allowed) in [
        ("replicaset-scale-down.json", true),
        ("deployment-label-change.json", true),
        ("deployment-rollout-to-signed.json", true),
        ("deployment-rollout-to-unsigned.json", false),
        ("deployment-container-added.json", true),
        ("pod-finalizer-removal.json", true),
        ("pod-label-change.json", true),
        ("pod-update.json", false),
        ("deployment-image-volume-added.json", false),
        ("deployment-init-container-changed.json", false),
        ("pod-claims-deletion.json", false),
    ] {
        for path in ["/validate", "/mutate"] {
            let resp = wh.review(path, &fixture(name, &w.reg.host));
            assert_eq!(resp["allowed"], allowed, "{name} {path}: {resp}");
            if !allowed {
                let msg = resp["status"]["message"].as_str().unwrap();
                assert!(msg.contains("unsigned:v1"), "{name}: {msg}");
            }
        }
    }
    // Unchanged images are never rewritten; with --pin-templates a changed
    // one in a template a person writes is, and a controller's object is not.
    for name in [
        "replicaset-scale-down.json",
        "deployment-label-change.json",
        "pod-finalizer-removal.json",
        "pod-label-change.json",
    ] {
        let resp = wh.review("/mutate", &fixture(name, &w.reg.host));
        assert!(resp.get("patch").is_none(), "{name} rewritten: {resp}");
    }
    let rollout = fixture("deployment-rollout-to-signed.json", &w.reg.host);
    let resp = wh.review("/mutate", &rollout);
    let mut object = rollout["request"]["object"].clone();
    assert_eq!(apply_patch(&mut object, &resp), 1);
    let added = fixture("deployment-container-added.json", &w.reg.host);
    let resp = wh.review("/mutate", &added);
    let mut object = added["request"]["object"].clone();
    assert_eq!(apply_patch(&mut object, &resp), 1, "only the new container");
    let containers = &object["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers[0]["image"],
        format!("{}/unsigned:v1", w.reg.host)
    );
    assert!(
        containers[1]["image"]
            .as_str()
            .unwrap()
            .ends_with(&w.digest)
    );
    // The added container unsigned: denied, naming it.
    let mut bad = added.clone();
    bad["request"]["object"]["spec"]["template"]["spec"]["containers"][1]["image"] =
        json!(format!("{}/unsigned:v2", w.reg.host));
    let resp = wh.review("/validate", &bad);
    assert_eq!(resp["allowed"], false);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("unsigned:v2")
    );
    // A ReplicaSet (controller-owned) whose template changed is verified
    // but not pinned: its Deployment's template is.
    let mut rs = fixture("replicaset-scale-down.json", &w.reg.host);
    rs["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!(format!("{}/hello-world:v1.0", w.reg.host));
    let resp = wh.review("/mutate", &rs);
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(resp.get("patch").is_none(), "{resp}");
}
