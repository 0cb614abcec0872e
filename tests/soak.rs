//! Fault soak: AdmissionReviews over HTTPS against the real webhook, whose
//! registry sits behind a proxy that delays, answers 503 and 429
//! (Retry-After), cuts connections and truncates bodies at random, with
//! attacker images mixed in (another spelling of a strict registry, an
//! unsigned image volume, an untrusted signer, junk referrers, a same-name
//! CA flood, a signed repository pinned to an unsigned digest).
//!
//! Asserts: zero false allows; every review answered within the deadline
//! (plus transport margin); `/healthz` p99 under 50 ms throughout; RSS flat.
//! `make test` runs `NV2_SOAK_REVIEWS` reviews (default 400);
//! `scripts/soak.sh` runs 10,000 against the release build and prints figures.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Env;
use common::proxy::{Chaos, Proxy};
use common::registry::{Auth, TestRegistry};
use common::webhook::{Webhook, write_trust_dir};
use futures_util::StreamExt;
use nv2::oci::Digest;
use nv2::signature::Certificate;
use nv2::signature::{Algorithm, SigningKey};
use nv2::signature::{Envelope, SignedContent, Signer};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(2);

/// A same-name CA flood: x5c = leaf, then nine CA certificates named alike.
fn chain_flood(manifest: &[u8], ca_pem: &std::path::Path) -> Vec<u8> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let gen_key = || KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ca = |cn: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p
    };
    let root_p = ca("Soak Root");
    let root_k = gen_key();
    let root = root_p.self_signed(&root_k).unwrap();
    std::fs::write(ca_pem, root.pem()).unwrap();
    let int_p = ca("Same Name");
    let ints: Vec<(KeyPair, Vec<u8>)> = (0..9)
        .map(|_| {
            let k = gen_key();
            let der = int_p
                .signed_by(&k, &Issuer::from_params(&root_p, &root_k))
                .unwrap()
                .der()
                .to_vec();
            (k, der)
        })
        .collect();
    let leaf_p = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let leaf_k = gen_key();
    let leaf = leaf_p
        .signed_by(&leaf_k, &Issuer::from_params(&int_p, &ints[0].0))
        .unwrap();
    let mut chain = vec![Certificate::from_der(leaf.der().to_vec()).unwrap()];
    chain.extend(
        ints.iter()
            .map(|(_, der)| Certificate::from_der(der.clone()).unwrap()),
    );
    let content = SignedContent {
        digest: Digest::of(manifest).to_string(),
        size: manifest.len() as u64,
        references: vec![],
        exp: 0,
        nbf: 0,
        iat: nv2::time::now(),
    };
    let key = SigningKey::from_pem(leaf_k.serialize_pem().as_bytes()).unwrap();
    Envelope::sign(&content, &Signer::with_chain(key, Algorithm::ES256, chain))
        .unwrap()
        .to_bytes()
}

struct World {
    env: Env,
    reg: TestRegistry,
    proxy: Proxy,
    unsigned_digest: String,
}

fn world() -> World {
    let env = Env::new();
    env.umoci_image("hello", "dev", "a");
    env.umoci_image("hello", "other", "b");
    for (k, c) in [("key.pem", "cert.pem"), ("evil.pem", "evil-cert.pem")] {
        env.keygen("localhost", k, c);
    }
    let reg = TestRegistry::start(Auth::None);
    let proxy = Proxy::start(reg.port);
    reg.skopeo_copy(&env.layout("dev"), "hello-world:v1.0", &[]);
    for repo in ["unsigned:v1", "untrusted:v1", "junk:v1", "chainflood:v1"] {
        reg.skopeo_copy(&env.layout("other"), repo, &[]);
    }
    let link = |file: &str, repo: &str, tag: &str| {
        let target = format!("{}:{tag}", reg.url(repo));
        env.nv2(&[
            "push",
            file,
            "--insecure",
            "--link",
            &target,
            &reg.url(repo),
        ])
        .ok();
    };
    let sign = |key: &str, out: &str, layout: &str, r: &str| {
        env.nv2(&[
            "sign",
            "-m",
            "x509",
            "-k",
            key,
            "-r",
            r,
            "-o",
            out,
            &format!("oci-layout:{layout}"),
        ])
        .ok();
    };
    sign(
        "key.pem",
        "good.nv2",
        "./hello:dev",
        &format!("{}/hello-world:v1.0", proxy.host()),
    );
    link("good.nv2", "hello-world", "v1.0");
    sign(
        "evil.pem",
        "evil.nv2",
        "./hello:other",
        &format!("{}/untrusted:v1", proxy.host()),
    );
    link("evil.nv2", "untrusted", "v1");
    for i in 0..6 {
        let out = format!("junk{i}.nv2");
        sign(
            "evil.pem",
            &out,
            "./hello:other",
            &format!("localhost/junk{i}:v1"),
        );
        link(&out, "junk", "v1");
    }
    let manifest = env.tool(
        env!("CARGO_BIN_EXE_nv2"),
        &["manifest", "oci-layout:./hello:other"],
    );
    let flood = chain_flood(&manifest, &env.path("root-ca.pem"));
    env.write("flood.nv2", &flood);
    link("flood.nv2", "chainflood", "v1");
    World {
        unsigned_digest: Digest::of(&manifest).to_string(),
        env,
        reg,
        proxy,
    }
}

/// A pod review (uid `i`) with these containers and volumes.
fn pod(i: usize, containers: Vec<String>, volumes: Vec<String>) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(n, image)| json!({"name": format!("c{n}"), "image": image}))
        .collect();
    let volumes: Vec<Value> = volumes
        .iter()
        .enumerate()
        .map(|(n, image)| json!({"name": format!("v{n}"), "image": {"reference": image}}))
        .collect();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": format!("soak-{i}"), "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "soak", "operation": "CREATE", "userInfo": {"username": "soak"},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p{i}"), "namespace": "soak"},
                   "spec": {"containers": containers, "volumes": volumes}}}})
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

#[test]
fn reviews_under_registry_faults_never_admit_an_attack() {
    let reviews: usize = std::env::var("NV2_SOAK_REVIEWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let w = world();
    let host = w.proxy.host();
    let (name, port) = host.split_once(':').unwrap();
    let strict: Vec<String> = ["hello-world", "unsigned", "untrusted", "junk", "chainflood"]
        .iter()
        .map(|r| format!("{host}/{r}"))
        .collect();
    let policy = json!({"version": "1.0", "trustPolicies": [
        {"name": "strict", "registryScopes": strict, "signatureVerification": {"level": "strict"},
         "trustStores": ["ca:test"], "trustedIdentities": ["*"]},
        {"name": "everything-else", "registryScopes": ["*"], "signatureVerification": {"level": "audit"},
         "trustStores": ["ca:test"], "trustedIdentities": ["*"]}]});
    let trust = w.env.path("trust");
    write_trust_dir(
        &trust,
        &policy,
        "test",
        &[&w.env.path("cert.pem"), &w.env.path("root-ca.pem")],
    );
    let wh = Webhook::start(
        &trust,
        &[
            "--insecure-registry",
            &host,
            "--deadline",
            "2s",
            "--cache-ttl",
            "2s",
            "--failure-cache-ttl",
            "1s",
            "--tag-cache-ttl",
            "1s",
        ],
    );
    wh.wait_ready();
    // Sanity before chaos: the honest image passes, the registry is reachable.
    let signed = format!("{host}/hello-world:v1.0");
    let first = wh.review("/validate", &pod(0, vec![signed.clone()], vec![]));
    assert_eq!(first["allowed"], true, "{first}");
    let _ = &w.reg;
    w.proxy.set_chaos(Some(Chaos {
        seed: 0x5eed,
        delay_pct: 20,
        max_delay: Duration::from_millis(2500),
        unavailable_pct: 5,
        throttled_pct: 5,
        reset_pct: 3,
        truncate_pct: 3,
    }));
    // Attacks: each must be denied, whatever the registry does.
    let attacks: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "another spelling of a strict registry",
            vec![format!("{}:0{port}/unsigned:v1", name.to_ascii_uppercase())],
            vec![],
        ),
        (
            "an unsigned image volume",
            vec![signed.clone()],
            vec![format!("{host}/unsigned:v1")],
        ),
        (
            "an untrusted signer",
            vec![format!("{host}/untrusted:v1")],
            vec![],
        ),
        ("junk referrers", vec![format!("{host}/junk:v1")], vec![]),
        (
            "a same-name CA flood",
            vec![format!("{host}/chainflood:v1")],
            vec![],
        ),
        (
            "a signed repository pinned to an unsigned digest",
            vec![format!("{host}/hello-world@{}", w.unsigned_digest)],
            vec![],
        ),
    ];
    let pid = wh.pid();
    let url = wh.url("/validate");
    let health_url = wh.url("/healthz");
    let client = common::webhook::client_trusting(&wh.tls.ca_pem);
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let (outcomes, (health, rss_samples)) = wh.block_on(async {
        let probe = {
            let client = client.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut rss = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    rss.push(rss_kib(pid));
                    let t = Instant::now();
                    let ok = client
                        .get(&health_url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200);
                    lat.push(if ok {
                        t.elapsed()
                    } else {
                        Duration::from_secs(60)
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (lat, rss)
            })
        };
        let outcomes: Vec<(Option<&str>, Duration, Value)> = futures_util::stream::iter(0..reviews)
            .map(|i| {
                let client = client.clone();
                let url = url.clone();
                let (attack, review) = if i % 3 == 0 {
                    let (what, c, v) = &attacks[(i / 3) % attacks.len()];
                    (Some(*what), pod(i, c.clone(), v.clone()))
                } else {
                    (None, pod(i, vec![signed.clone()], vec![]))
                };
                async move {
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(review.to_string())
                        .send()
                        .await;
                    let body = match resp {
                        Ok(r) => {
                            let text = r.text().await.unwrap_or_default();
                            serde_json::from_str(&text).unwrap_or(Value::Null)
                        }
                        Err(e) => json!({"transport error": e.to_string()}),
                    };
                    (attack, t.elapsed(), body)
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        done.store(true, Ordering::Relaxed);
        (outcomes, probe.await.unwrap())
    });
    let wall = started.elapsed();
    let mut allowed_honest = 0;
    let mut latencies = Vec::new();
    for (attack, took, body) in &outcomes {
        let response = &body["response"];
        assert!(
            response["allowed"].is_boolean(),
            "every review is answered: {body}"
        );
        if let Some(what) = attack {
            assert_eq!(response["allowed"], false, "{what} was admitted: {body}");
        } else if response["allowed"] == true {
            allowed_honest += 1;
        } else if std::env::var_os("NV2_SOAK_VERBOSE").is_some() {
            println!("honest denied: {}", response["status"]["message"]);
        }
        assert!(
            *took < DEADLINE + Duration::from_millis(1500),
            "a review took {took:?}: {body}"
        );
        latencies.push(*took);
    }
    assert!(allowed_honest > 0, "the honest image never passed");
    let p99 = percentile(health.clone(), 0.99);
    let rss_end = rss_kib(pid);
    // RSS flat: what the first quarter reached is not outgrown by the end.
    let quarter = rss_samples
        .get(rss_samples.len() / 4)
        .copied()
        .unwrap_or(rss_end);
    println!(
        "soak: {reviews} reviews in {wall:?}; honest allowed {allowed_honest}/{}; review p50 {:?} p99 {:?}; /healthz p50 {:?} p99 {p99:?} ({} probes); RSS at a quarter {quarter} KiB, end {} KiB",
        reviews - reviews.div_ceil(3),
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.99),
        percentile(health.clone(), 0.5),
        health.len(),
        rss_end
    );
    assert!(p99 < Duration::from_millis(50), "/healthz p99 {p99:?}");
    assert!(
        rss_end < 100 * 1024,
        "RSS {rss_end} KiB after {reviews} reviews"
    );
    assert!(
        rss_end < quarter + 32 * 1024,
        "RSS grew from {quarter} KiB to {rss_end} KiB"
    );
    w.proxy.set_chaos(None);
}
