//! What a hostile registry answers must not grow what nv2 says, holds or
//! reads (second attack pass): registry and signature text is bounded in deny
//! messages, logs and caches; the per-image download budget charges what may
//! be read, not what a descriptor declares; a CLI command ends within its
//! `--deadline` however slowly the registry trickles.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use common::Env;
use common::standin::{Reply, StandIn};
use common::webhook::{Webhook, write_trust_dir};
use serde_json::{Value, json};

const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.v2.signature";

fn descriptor(bytes: &[u8], embed: bool, declared: Option<u64>) -> Value {
    let mut d = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": nv2::oci::Digest::of(bytes).to_string(),
        "size": declared.unwrap_or(bytes.len() as u64),
        "artifactType": ARTIFACT_TYPE,
    });
    if embed {
        d["data"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    d
}

fn index(manifests: Vec<Value>) -> Reply {
    Reply::json(
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}),
    )
}

fn webhook(env: &Env, registry: &str) -> Webhook {
    env.keygen("localhost", "key.pem", "cert.pem");
    let dir = env.path("trust");
    let policy = json!({"version": "1.0", "trustPolicies": [
        {"name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
         "trustStores": ["ca:test"], "trustedIdentities": ["*"]}]});
    write_trust_dir(&dir, &policy, "test", &[&env.path("cert.pem")]);
    let wh = Webhook::start(&dir, &["--insecure-registry", registry, "--deadline", "8s"]);
    wh.wait_ready();
    wh
}

fn pod(images: &[String]) -> Value {
    pod_in("x", images)
}

fn pod_in(namespace: &str, images: &[String]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "hostile", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": namespace, "operation": "CREATE", "userInfo": {"username": "x"},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}}}})
}

#[test]
fn registry_text_is_bounded_in_messages_logs_and_caches() {
    // Every referrers answer: 40 embedded, digest-correct "manifests" whose
    // only content is a 28 KB string that a parser error would quote.
    let junk: Vec<Value> = (0..40)
        .map(|i| {
            let bytes = format!(r#"{{"schemaVersion":"{}{i}"}}"#, "A".repeat(28_000));
            descriptor(bytes.as_bytes(), true, None)
        })
        .collect();
    let reg = StandIn::http(move |s| {
        if s.path.contains("/referrers/") {
            index(junk.clone())
        } else {
            Reply::status(404)
        }
    });
    let env = Env::new();
    let wh = webhook(&env, &reg.host());
    let images: Vec<String> = (0..64)
        .map(|i| format!("{}/repo{i}@sha256:{}", reg.host(), "1".repeat(64)))
        .collect();
    let review = pod(&images);
    let (status, body) = wh.post_raw("/validate", review.to_string().into_bytes());
    assert_eq!(status, 200);
    let resp: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        resp["response"]["allowed"],
        false,
        "{}",
        &body[..body.len().min(2000)]
    );
    assert!(body.len() < 20 << 10, "a {}-byte response", body.len());
    let message = resp["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("not an OCI manifest"),
        "{}",
        &message[..message.len().min(600)]
    );
    // The log line of the review is bounded too.
    let longest = wh.logs().lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 256 << 10, "a {longest}-byte log line");
    for _ in 0..3 {
        let mut again = review.clone();
        // New digests: no cache hit, so every round does all the work again.
        for (i, c) in again["request"]["object"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .enumerate()
        {
            c["image"] = json!(format!(
                "{}/again{i}@sha256:{}",
                reg.host(),
                nv2::oci::Digest::of(
                    format!("{i}{}", Instant::now().elapsed().as_nanos()).as_bytes()
                )
                .hex()
            ));
        }
        let (status, _) = wh.post_raw("/validate", again.to_string().into_bytes());
        assert_eq!(status, 200);
    }
    let rss = wh.rss_kib();
    assert!(rss < 100 * 1024, "RSS {rss} KiB");
}

#[test]
fn the_download_budget_charges_what_may_be_read() {
    // 100 referrers each declaring a 1-byte manifest, each answered with
    // 250 KB: without the fix all 100 were fetched (25 MB for one image).
    let fetched = Arc::new(AtomicUsize::new(0));
    let counter = fetched.clone();
    let manifests: Vec<Value> = (0..100)
        .map(|i| descriptor(format!("sig{i}").as_bytes(), false, Some(1)))
        .collect();
    let big = vec![b' '; 250_000];
    let reg = StandIn::http(move |s| {
        if s.path.contains("/referrers/") {
            index(manifests.clone())
        } else if s.path.contains("/manifests/sha256:") {
            counter.fetch_add(1, Ordering::SeqCst);
            Reply::ok(big.clone())
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        } else {
            Reply::status(404)
        }
    });
    let env = Env::new();
    let wh = webhook(&env, &reg.host());
    let image = format!("{}/budget@sha256:{}", reg.host(), "2".repeat(64));
    let resp = wh.review("/validate", &pod(&[image]));
    assert_eq!(resp["allowed"], false);
    let n = fetched.load(Ordering::SeqCst);
    let most =
        (nv2::verify::MAX_IMAGE_SIGNATURE_BYTES / nv2::verify::MAX_SIGNATURE_MANIFEST) as usize;
    assert!(
        n <= most + 4,
        "{n} signature manifests fetched for one image (budget allows {most})"
    );
    assert!(n >= 1, "the registry was asked");
    let message = resp["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("budget") || message.contains("more"),
        "{message}"
    );
}

#[test]
fn a_cli_command_ends_within_its_deadline() {
    // A registry that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = Env::new();
    env.keygen("localhost", "key.pem", "cert.pem");
    let started = Instant::now();
    let target = format!("docker://127.0.0.1:{port}/slow:v1");
    env.nv2(&[
        "verify",
        "-c",
        "cert.pem",
        "--insecure",
        "--timeout",
        "30s",
        "--deadline",
        "2s",
        &target,
    ])
    .fails(2, "did not finish within the --deadline");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

/// A registry that answers every request with a 200 announcing `size` bytes,
/// sends all but one, and stalls; bounded in connections and time.
fn stalling_registry(size: usize, hold: Duration) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let until = Instant::now() + hold;
        let mut held = Vec::new();
        while Instant::now() < until && held.len() < 1000 {
            match listener.accept() {
                Ok((mut s, _)) => {
                    // A thread per connection, each done by `until`.
                    held.push(std::thread::spawn(move || {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                        let _ = s.set_write_timeout(Some(until.saturating_duration_since(Instant::now())));
                        let mut req = [0u8; 4096];
                        let _ = s.read(&mut req);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ncontent-length: {size}\r\n\r\n"
                        );
                        let _ = s.write_all(head.as_bytes());
                        let _ = s.write_all(&vec![b' '; size - 1]);
                        std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    }));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        for t in held {
            let _ = t.join();
        }
    });
    (port, handle)
}

#[test]
fn stalling_registries_cannot_make_the_webhook_hold_memory_without_bound() {
    // Every answer announces 4 MiB, sends 4 MiB - 1 and stalls: 16 reviews of
    // 64 images each would hold gigabytes without a process-wide bound.
    let (port, server) = stalling_registry(4 << 20, Duration::from_secs(12));
    let host = format!("127.0.0.1:{port}");
    let env = Env::new();
    let wh = webhook(&env, &host);
    let reviews: Vec<Value> = (0..16)
        .map(|r| {
            let images: Vec<String> = (0..64).map(|i| format!("{host}/fat{r}x{i}:v1")).collect();
            pod(&images)
        })
        .collect();
    // The peak is what matters: buffers are freed once the deadline passes.
    let pid = wh.pid();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(Ordering::SeqCst) {
                let kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0);
                peak = peak.max(kib);
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let started = Instant::now();
    let answers = wh.concurrent_reviews("/validate", reviews);
    done.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap();
    for a in &answers {
        assert_eq!(a["allowed"], false, "{a}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        peak < 150 * 1024,
        "peak RSS {peak} KiB while registries stalled"
    );
    drop(wh);
    let _ = server.join();
}
