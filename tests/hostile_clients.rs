//! Anyone who reaches the webhook's port, and pod authors who name hostile
//! registries (issue 17): each attack runs against the real binary, and the
//! test asserts both behaviour (refused, cut off, labelled `other`) and the
//! webhook process's memory (VmRSS from /proc), with honest reviews answered
//! throughout.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Env;
use common::attack::{self, Target};
use common::standin::{Reply, StandIn, manifest};
use common::webhook::{Webhook, write_trust_dir};
use serde_json::json;

const HONEST: &str = "localhost:1/honest:v1";

/// A webhook whose policy skips `localhost:1/honest` (so an honest review is
/// answered without a registry) and verifies everything else strictly.
fn webhook(extra: &[&str]) -> (Env, Webhook) {
    let env = Env::new();
    env.keygen("localhost", "key.pem", "cert.pem");
    let dir = env.path("trust");
    let policy = json!({"version": "1.0", "trustPolicies": [
        {"name": "honest", "registryScopes": ["localhost:1/honest"], "signatureVerification": {"level": "skip"}},
        {"name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
         "trustStores": ["ca:test"], "trustedIdentities": ["*"]}]});
    write_trust_dir(&dir, &policy, "test", &[&env.path("cert.pem")]);
    let wh = Webhook::start(&dir, extra);
    wh.wait_ready();
    (env, wh)
}

/// One honest review: allowed.
#[track_caller]
fn honest(wh: &Webhook) {
    let r = wh.review(
        "/validate",
        &attack::review("Pod", "CREATE", &[HONEST.into()]),
    );
    assert_eq!(r["allowed"], true, "{r}");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[test]
fn attacker_kinds_and_operations_are_not_labels() {
    let (_env, wh) = webhook(&[]);
    honest(&wh);
    let before = wh.rss_kib();
    // 100 POSTs whose kind and operation are 1 MiB each, on the ignored path,
    // and 2,000 small distinct ones.
    for i in 0..100 {
        let big = format!("{i}{}", "K".repeat(1 << 20));
        let (status, _) = wh.post_raw(
            "/validate",
            serde_json::to_vec(&attack::review(&big, &big, &[])).unwrap(),
        );
        assert_eq!(status, 200);
    }
    let reviews: Vec<_> = (0..2_000)
        .map(|i| attack::review(&format!("Kind{i}"), &format!("OP{i}"), &[]))
        .collect();
    for chunk in reviews.chunks(100) {
        wh.concurrent_reviews("/validate", chunk.to_vec());
    }
    let metrics = wh.metrics();
    assert!(
        metrics.len() < 20_000,
        "/metrics is {} bytes",
        metrics.len()
    );
    assert!(
        metrics.contains(r#"kind="other",operation="other",decision="ignored"} 2100"#),
        "{metrics}"
    );
    assert!(!metrics.contains("Kind1") && !metrics.contains("KKKK"));
    let grown = wh.rss_kib().saturating_sub(before);
    assert!(grown < 40 << 10, "RSS grew {:.1} MiB", mib(grown));
    honest(&wh);
}

#[test]
fn attacker_registry_hosts_are_not_labels() {
    let (_env, wh) = webhook(&["--insecure-registry", "localhost:1", "--deadline", "3s"]);
    // 2,000 distinct hosts, all on loopback where nothing listens (port 9):
    // each fails at once. 20 images per Pod.
    let hosts: Vec<String> = (0..2_000)
        .map(|i| format!("127.0.{}.{}:9/app:v1", i / 250, i % 250 + 1))
        .collect();
    let reviews: Vec<_> = hosts
        .chunks(20)
        .map(|images| attack::review("Pod", "CREATE", images))
        .collect();
    for chunk in reviews.chunks(10) {
        for r in wh.concurrent_reviews("/validate", chunk.to_vec()) {
            assert_eq!(r["allowed"], false, "{r}");
        }
    }
    let metrics = wh.metrics();
    assert!(
        metrics.contains(r#"nv2_registry_requests_total{host="other",status="error"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains("127.0.1."), "a pod's host became a label");
    assert!(
        metrics.len() < 20_000,
        "/metrics is {} bytes",
        metrics.len()
    );
    honest(&wh);
}

/// 64 KiB tokens are refused; thousands of repositories with the largest
/// token allowed (8 KiB) leave the token store within its bound.
#[test]
fn hostile_tokens_stay_bounded() {
    let realm_port = Arc::new(std::sync::atomic::AtomicU16::new(0));
    let rp = realm_port.clone();
    let realm = StandIn::http(|s| {
        let token = if s.path.contains("huge") {
            "h".repeat(64 << 10)
        } else {
            // Distinct per scope, 8 KiB.
            let seed: usize = s.path.bytes().map(usize::from).sum();
            format!("{seed:016x}").repeat(1 << 9)
        };
        Reply::json(json!({"token": token, "expires_in": 3600}))
    });
    rp.store(realm.port, std::sync::atomic::Ordering::SeqCst);
    let (bytes, _) = manifest();
    let reg = StandIn::http(move |s| match &s.authorization {
        Some(a) if a.starts_with("Bearer ") && s.path.contains("/manifests/") => {
            Reply::ok(bytes.clone())
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        }
        Some(a) if a.starts_with("Bearer ") => Reply::status(404),
        _ => Reply::challenge(&format!(
            r#"Bearer realm="http://localhost:{}/token""#,
            rp.load(std::sync::atomic::Ordering::SeqCst)
        )),
    });
    let (_env, wh) = webhook(&["--insecure-registry", &reg.host()]);
    let huge = wh.review(
        "/validate",
        &attack::review("Pod", "CREATE", &[format!("{}/huge:v1", reg.host())]),
    );
    let msg = huge["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("larger than"), "{msg}");
    let images: Vec<String> = (0..4_000)
        .map(|i| format!("{}/repo{i}:v1", reg.host()))
        .collect();
    let reviews: Vec<_> = images
        .chunks(20)
        .map(|c| attack::review("Pod", "CREATE", c))
        .collect();
    // RSS after each half: in-flight copies of tokens raise the first, a
    // store that kept every token would raise the second by 16 MiB more.
    let mut rss = vec![wh.rss_kib()];
    for half in reviews.chunks(100) {
        for chunk in half.chunks(10) {
            wh.concurrent_reviews("/validate", chunk.to_vec());
        }
        rss.push(wh.rss_kib());
    }
    assert!(realm.count() >= 4_000, "{}", realm.count());
    let bytes = wh.metric("nv2_registry_token_bytes").unwrap();
    let entries = wh.metric("nv2_registry_tokens").unwrap();
    assert!(bytes <= (4 << 20) as f64, "{bytes}");
    assert!(entries <= 600.0, "{entries}");
    let second = rss[2].saturating_sub(rss[1]);
    assert!(
        second < 10 << 10,
        "RSS grew {:.1} MiB over the second 2,000 repositories",
        mib(second)
    );
    let total = rss[2].saturating_sub(rss[0]);
    assert!(total < 60 << 10, "RSS grew {:.1} MiB", mib(total));
    honest(&wh);
}

/// TCP connections that never start TLS, and TLS connections that never
/// finish their headers, are cut at the read timeout; past the connection
/// cap, new connections are closed at once.
#[test]
fn slow_clients_are_cut_off_and_connections_capped() {
    let (_env, wh) = webhook(&["--read-timeout", "2s", "--max-connections", "40"]);
    let t = Target::new(wh.port, &wh.tls.ca_pem, &[b"http/1.1"]);
    wh.block_on(async {
        let mut idle = attack::idle_tcp(&t, 15).await;
        let mut slow = attack::stalled_headers(&t, 15).await;
        assert_eq!(slow.len(), 15);
        // 30 of 40 slots held: 20 more connections, 10 of them over the cap.
        let mut over = attack::idle_tcp(&t, 20).await;
        let mut closed_at_once = 0;
        for s in &mut over {
            if attack::closed_within(s, Duration::from_millis(300)).await {
                closed_at_once += 1;
            }
        }
        assert!(closed_at_once >= 8, "{closed_at_once} closed past the cap");
        let started = Instant::now();
        for s in &mut idle {
            assert!(
                attack::closed_within(s, Duration::from_secs(5)).await,
                "TLS handshake never timed out"
            );
        }
        for s in &mut slow {
            assert!(
                attack::closed_within(s, Duration::from_secs(5)).await,
                "headers never timed out"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    honest(&wh);
    assert!(wh.metric("nv2_open_connections").unwrap() <= 2.0);
}

/// 40 TLS connections each declaring 3 MiB, sending 2 MiB and stalling (80
/// MiB if buffered): at most the budget is held, the rest is refused, all of
/// it is let go at the read timeout, and an honest review gets in meanwhile.
#[test]
fn stalled_bodies_hold_bounded_memory() {
    let (_env, wh) = webhook(&["--read-timeout", "3s", "--max-buffered-request-mib", "16"]);
    let t = Target::new(wh.port, &wh.tls.ca_pem, &[b"http/1.1"]);
    let before = wh.rss_kib();
    let held = wh.block_on(attack::stalled_bodies(&t, 40, 2 << 20, 3 << 20));
    assert!(held.len() >= 35, "{}", held.len());
    let buffered = wh.metric("nv2_buffered_request_bytes").unwrap();
    assert!(buffered <= (16 << 20) as f64, "{buffered}");
    let during = wh.rss_kib();
    honest(&wh);
    let grown = during.saturating_sub(before);
    assert!(grown < 50 << 10, "RSS grew {:.1} MiB", mib(grown));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(wh.metric("nv2_buffered_request_bytes").unwrap(), 0.0);
    drop(held);
}

/// One h2 connection, 200 streams each sending 1 MiB of a 3 MiB body: at most
/// 32 streams at once, and 3 MiB for the whole connection.
#[test]
fn h2_stream_floods_are_bounded_per_connection() {
    let (_env, wh) = webhook(&["--read-timeout", "3s"]);
    let t = Target::new(wh.port, &wh.tls.ca_pem, &[b"h2"]);
    let before = wh.rss_kib();
    let flood = wh.block_on(attack::h2_flood(&t, 200, 1 << 20, Duration::from_secs(2)));
    assert!(flood.opened >= 32, "{}", flood.opened);
    let buffered = wh.metric("nv2_buffered_request_bytes").unwrap();
    assert!(buffered <= (3 << 20) as f64, "{buffered}");
    assert!(flood.statuses.contains(&413), "{:?}", flood.statuses);
    let grown = wh.rss_kib().saturating_sub(before);
    assert!(grown < 40 << 10, "RSS grew {:.1} MiB", mib(grown));
    honest(&wh);
    drop(flood);
}

/// An HTTP/1.1 connection idle between requests holds a slot: it is closed
/// at the read timeout (clients reconnect; the API server's h2 is not affected).
#[test]
fn idle_http1_connections_are_closed_at_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_env, wh) = webhook(&["--read-timeout", "1s"]);
    let t = Target::new(wh.port, &wh.tls.ca_pem, &[b"http/1.1"]);
    wh.block_on(async {
        let mut s = t.tls().await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(!attack::closed_within(&mut s, Duration::from_millis(500)).await);
        assert!(attack::closed_within(&mut s, Duration::from_secs(3)).await);
    });
}
