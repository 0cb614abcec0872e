//! Hostile clients of the webhook port, for the tests and for
//! `scripts/attack-memory.sh` (through `examples/attack.rs`): slow-loris TLS
//! clients (idle before the handshake, stalled headers, stalled bodies), h2
//! stream floods, and bodies with attacker-chosen kinds and hosts. All on
//! 127.0.0.1, bounded in count, and holding what they open only as long as
//! the caller keeps the returned handles.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

/// The webhook under attack.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub connector: TlsConnector,
}

impl Target {
    /// `127.0.0.1:port`, trusting `ca_pem`; `alpn` e.g. `[b"h2"]`.
    pub fn new(port: u16, ca_pem: &str, alpn: &[&[u8]]) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Target {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            connector: TlsConnector::from(Arc::new(config)),
        }
    }

    pub async fn tls(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        self.connector.connect(name, tcp).await
    }
}

/// Whether the server closes `stream` within `within` (EOF or error on read).
pub async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    within: Duration,
) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// `n` TCP connections that never start TLS.
pub async fn idle_tcp(t: &Target, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for _ in 0..n {
        if let Ok(s) = TcpStream::connect(t.addr).await {
            out.push(s);
        }
    }
    out
}

/// `n` TLS connections that send half a request head and stop.
pub async fn stalled_headers(t: &Target, n: usize) -> Vec<TlsStream<TcpStream>> {
    let mut out = Vec::new();
    for _ in 0..n {
        if let Ok(mut s) = t.tls().await {
            let _ = s
                .write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .await;
            out.push(s);
        }
    }
    out
}

/// `n` TLS connections, each POSTing a body that declares `declared` bytes,
/// sends `sent`, and stalls. Concurrently, so that all are held at once.
pub async fn stalled_bodies(
    t: &Target,
    n: usize,
    sent: usize,
    declared: usize,
) -> Vec<TlsStream<TcpStream>> {
    let chunk = vec![b' '; sent];
    let tasks = (0..n).map(|_| {
        let t = t.clone();
        let chunk = chunk.clone();
        async move {
            let mut s = t.tls().await.ok()?;
            let head = format!(
                "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
            );
            s.write_all(head.as_bytes()).await.ok()?;
            // The server may refuse before all is sent: that is fine.
            let _ = tokio::time::timeout(Duration::from_secs(5), s.write_all(&chunk)).await;
            let _ = s.flush().await;
            Some(s)
        }
    });
    futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// What an h2 stream flood got back.
pub struct H2Flood {
    /// Status of each stream that was answered while the flood held.
    pub statuses: Vec<u16>,
    /// Streams the server let the client open (the rest waited for capacity).
    pub opened: usize,
    /// Keeps the connection (and unanswered streams) alive.
    pub hold: Vec<Box<dyn std::any::Any + Send>>,
}

/// One h2 connection opening `streams` POSTs, each sending `per_stream`
/// bytes of a larger declared body and stalling; answers gathered for `wait`.
pub async fn h2_flood(t: &Target, streams: usize, per_stream: usize, wait: Duration) -> H2Flood {
    let mut flood = H2Flood {
        statuses: Vec::new(),
        opened: 0,
        hold: Vec::new(),
    };
    let Ok(tls) = t.tls().await else {
        return flood;
    };
    let Ok((client, conn)) = h2::client::handshake(tls).await else {
        return flood;
    };
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u16>();
    let deadline = tokio::time::Instant::now() + wait;
    for _ in 0..streams {
        let mut client = client.clone();
        // Waits while the server's stream limit is reached.
        match tokio::time::timeout_at(deadline, client.clone().ready()).await {
            Ok(Ok(c)) => client = c,
            _ => break,
        }
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("https://localhost:{}/validate", t.addr.port()))
            .header("content-type", "application/json")
            .header("content-length", (3 << 20).to_string())
            .body(())
            .unwrap();
        let Ok((resp, mut send)) = client.send_request(req, false) else {
            break;
        };
        flood.opened += 1;
        let data = bytes::Bytes::from(vec![b' '; per_stream]);
        let tx = tx.clone();
        let task = tokio::spawn(async move {
            // Send as the window allows; stall after.
            send.reserve_capacity(data.len());
            let mut rest = data;
            while !rest.is_empty() {
                match futures_util::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(n)) if n > 0 => {
                        let part = rest.split_to(n.min(rest.len()));
                        if send.send_data(part, false).is_err() {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            if let Ok(r) = resp.await {
                let _ = tx.send(r.status().as_u16());
            }
            // Keep the stream's sending half until aborted.
            std::future::pending::<()>().await;
            drop(send);
        });
        flood.hold.push(Box::new(AbortOnDrop(task)));
    }
    drop(tx);
    while let Ok(Some(s)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        flood.statuses.push(s);
    }
    flood.hold.push(Box::new(client));
    flood.hold.push(Box::new(AbortOnDrop(driver)));
    flood
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An AdmissionReview of a Pod of `kind` (as the request says) whose
/// containers use `images`.
pub fn review(kind: &str, operation: &str, images: &[String]) -> serde_json::Value {
    let containers: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, image)| serde_json::json!({"name": format!("c{i}"), "image": image}))
        .collect();
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "attack",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "p",
            "namespace": "default",
            "operation": operation,
            "userInfo": {"username": "attacker"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                       "spec": {"containers": containers}}
        }
    })
}

/// VmRSS of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Latencies of `n` honest reviews sent one after another with `client`.
pub async fn honest_latencies(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    n: usize,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let ok = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false);
        out.push(if ok {
            started.elapsed()
        } else {
            Duration::from_secs(3600)
        });
    }
    out
}

/// The `p`-th percentile (0..=100) of `samples`.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let i = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[i.min(samples.len() - 1)]
}
