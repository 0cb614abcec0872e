//! The attacks of issue 17 against a running webhook, for
//! `scripts/attack-memory.sh`: each attack runs while honest reviews are sent
//! one after another, then the webhook's VmRSS (peak sampled during the
//! attack, and after it) and the honest reviews' p50/p99 are printed as one
//! Markdown table row.
//!
//! ```text
//! attack PORT CA_PEM WEBHOOK_PID HONEST_REVIEW_JSON HOSTILE_PORT
//! ```
//!
//! HOSTILE_PORT is where this program runs a hostile registry (with its token
//! service on the same host): the webhook must list `localhost:HOSTILE_PORT`
//! with `--insecure-registry`. Everything is on 127.0.0.1.

#[path = "../tests/common/attack.rs"]
mod attack;
#[path = "../tests/common/standin.rs"]
mod standin;

/// What `standin` needs of the test helpers' TLS material (unused here).
#[allow(dead_code)]
mod webhook {
    pub struct TlsMaterial {
        pub ca_pem: String,
        pub cert_pem: String,
        pub key_pem: String,
    }
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use attack::Target;
use standin::{Reply, StandIn};

struct Ctx {
    port: u16,
    ca: String,
    pid: u32,
    honest: Vec<u8>,
    hostile: String,
    client: reqwest::Client,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: attack PORT CA_PEM WEBHOOK_PID HONEST_REVIEW_JSON HOSTILE_PORT");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse().expect("PORT");
    let ca = std::fs::read_to_string(&args[2]).expect("CA_PEM");
    let pid: u32 = args[3].parse().expect("WEBHOOK_PID");
    let honest = std::fs::read(&args[4]).expect("HONEST_REVIEW_JSON");
    let hostile_port: u16 = args[5].parse().expect("HOSTILE_PORT");
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let _registry = hostile_registry(hostile_port);
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ctx = Arc::new(Ctx {
        port,
        ca,
        pid,
        honest,
        hostile: format!("localhost:{hostile_port}"),
        client,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| attack | what the attacker sent | RSS peak during | RSS after | honest reviews | p50 | p99 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    rt.block_on(async {
        run(&ctx, "none (baseline)", "honest reviews only", |_| async {}).await;
        run(&ctx, "admission kinds", "100 POSTs, each with a 2.9 MB `kind` (and as many with a 2.9 MB `operation`); 10,000 distinct small kinds and operations", |c| async move {
            let big = "K".repeat(2_900_000);
            for i in 0..100 {
                let k = format!("{i}{big}");
                assert_eq!(post(&c, &attack::review(&k, "CREATE", &[])).await, 200);
                assert_eq!(post(&c, &attack::review("Pod", &k, &[])).await, 200);
            }
            many(&c, (0..10_000).map(|i| attack::review(&format!("Kind{i}"), &format!("OP{i}"), &[])).collect()).await;
        }).await;
        run(&ctx, "registry hosts", "20,000 distinct registry hosts in 1,000 Pods (127.x.y.z:9, refused at once)", |c| async move {
            let images: Vec<String> = (0..20_000u32)
                .map(|i| format!("127.{}.{}.{}:9/app:v1", i / 62_500, (i / 250) % 250, i % 250 + 1))
                .collect();
            many(&c, images.chunks(20).map(|c| attack::review("Pod", "CREATE", c)).collect()).await;
        }).await;
        run(&ctx, "registry tokens", "9,284 repositories on a hostile registry, an 8 KiB token each (the most nv2 accepts) and one 64 KiB token (refused)", |c| async move {
            post(&c, &attack::review("Pod", "CREATE", &[format!("{}/huge:v1", c.hostile)])).await;
            let images: Vec<String> = (0..9_284).map(|i| format!("{}/repo{i}:v1", c.hostile)).collect();
            many(&c, images.chunks(20).map(|ch| attack::review("Pod", "CREATE", ch)).collect()).await;
        }).await;
        run(&ctx, "slow-loris bodies", "150 TLS connections, each sending 3 MiB − 1 byte of a 3 MiB body, held 10 s", |c| async move {
            let t = Target::new(c.port, &c.ca, &[b"http/1.1"]);
            let held = attack::stalled_bodies(&t, 150, (3 << 20) - 1, 3 << 20).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(held);
        }).await;
        run(&ctx, "slow-loris handshakes and headers", "250 idle TCP connections and 250 TLS connections with half a request head, held 10 s", |c| async move {
            let t = Target::new(c.port, &c.ca, &[b"http/1.1"]);
            let a = attack::idle_tcp(&t, 250).await;
            let b = attack::stalled_headers(&t, 250).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop((a, b));
        }).await;
        run(&ctx, "h2 stream floods", "8 h2 connections × 200 streams, each sending 1 MiB of a 3 MiB body, held 10 s", |c| async move {
            let t = Target::new(c.port, &c.ca, &[b"h2"]);
            let floods = futures_util::future::join_all(
                (0..8).map(|_| attack::h2_flood(&t, 200, 1 << 20, Duration::from_secs(10))),
            )
            .await;
            drop(floods);
        }).await;
    });
}

/// Runs `attack` while honest reviews go on; prints one row.
async fn run<F, Fut>(ctx: &Arc<Ctx>, name: &str, what: &str, attack: F)
where
    F: FnOnce(Arc<Ctx>) -> Fut,
    Fut: Future<Output = ()>,
{
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let (done, peak, pid) = (done.clone(), peak.clone(), ctx.pid);
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(attack::rss_kib(pid), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let honest = {
        let (done, ctx) = (done.clone(), ctx.clone());
        tokio::spawn(async move {
            let url = format!("https://localhost:{}/validate", ctx.port);
            let mut lat = Vec::new();
            let started = Instant::now();
            while !done.load(Ordering::SeqCst) || started.elapsed() < Duration::from_secs(2) {
                lat.extend(attack::honest_latencies(&ctx.client, &url, &ctx.honest, 1).await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            lat
        })
    };
    attack(ctx.clone()).await;
    done.store(true, Ordering::SeqCst);
    let mut lat = honest.await.unwrap();
    let _ = sampler.await;
    // Let the webhook settle (timeouts, closed connections) before "after".
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = attack::rss_kib(ctx.pid);
    let failed = lat
        .iter()
        .filter(|d| **d >= Duration::from_secs(3600))
        .count();
    let n = lat.len();
    let p50 = attack::percentile(&mut lat, 50.0);
    let p99 = attack::percentile(&mut lat, 99.0);
    let ms = |d: Duration| {
        if d >= Duration::from_secs(3600) {
            "failed".to_owned()
        } else {
            format!("{:.1} ms", d.as_secs_f64() * 1000.0)
        }
    };
    println!(
        "| {name} | {what} | {:.1} MiB | {:.1} MiB | {} ({} failed) | {} | {} |",
        peak.load(Ordering::SeqCst).max(after) as f64 / 1024.0,
        after as f64 / 1024.0,
        n,
        failed,
        ms(p50),
        ms(p99)
    );
}

async fn post(c: &Ctx, review: &serde_json::Value) -> u16 {
    c.client
        .post(format!("https://localhost:{}/validate", c.port))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(review).unwrap())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Posts `reviews`, 16 at a time.
async fn many(c: &Ctx, reviews: Vec<serde_json::Value>) {
    use futures_util::StreamExt;
    futures_util::stream::iter(reviews)
        .for_each_concurrent(16, |r| async move {
            post(c, &r).await;
        })
        .await;
}

/// A hostile registry on 127.0.0.1:`port`: a token per repository from a
/// realm on its own host (8 KiB each, the most nv2 accepts; 64 KiB for `huge`), manifests for any
/// token, 404 for everything else.
fn hostile_registry(port: u16) -> StandIn {
    let manifest = standin::manifest().0;
    StandIn::http_at(port, move |s| {
        if s.path.starts_with("/token") {
            let token = if s.path.contains("huge") {
                "h".repeat(64 << 10)
            } else {
                let seed: usize = s.path.bytes().map(usize::from).sum();
                format!("{seed:016x}").repeat(1 << 9)
            };
            return Reply::json(serde_json::json!({"token": token, "expires_in": 3600}));
        }
        match &s.authorization {
            Some(a) if a.starts_with("Bearer ") && s.path.contains("/manifests/") => {
                Reply::ok(manifest.clone())
                    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            }
            Some(a) if a.starts_with("Bearer ") => Reply::status(404),
            _ => Reply::challenge(&format!(r#"Bearer realm="http://localhost:{port}/token""#)),
        }
    })
}
