//! A hostile-registry proxy: forwards to a real registry, counts requests,
//! and on request misbehaves for paths that match a rule.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

/// How to misbehave.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Answer this status with a distribution-style error body (and Retry-After).
    Status(u16, Option<&'static str>),
    /// Promise the full length, send half, close.
    Truncate,
    /// Flip one byte of the real body (same length, same headers).
    Corrupt,
    /// A 200 with this many bytes of manifest-looking junk.
    Huge(usize),
    /// A 200 whose body never ends.
    Endless,
    /// Cut the connection without an answer.
    Reset,
}

/// Random misbehaviour on every request, for soak runs: each request draws
/// one outcome from a seeded generator.
#[derive(Clone, Copy, Debug)]
pub struct Chaos {
    pub seed: u64,
    /// Percent of requests delayed by up to `max_delay`.
    pub delay_pct: u32,
    pub max_delay: Duration,
    /// Percent answered 503.
    pub unavailable_pct: u32,
    /// Percent answered 429 with `Retry-After: 1`.
    pub throttled_pct: u32,
    /// Percent whose connection is cut before any answer.
    pub reset_pct: u32,
    /// Percent whose body is cut in the middle.
    pub truncate_pct: u32,
}

impl Chaos {
    /// Draws this request's fault (a splitmix64 step of the shared state).
    fn draw(&self, counter: u64) -> Option<Fault> {
        let mut z = self
            .seed
            .wrapping_add(counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let roll = (z % 100) as u32;
        let delay = Duration::from_millis((z >> 8) % (self.max_delay.as_millis() as u64 + 1));
        let mut edge = 0;
        for (pct, fault) in [
            (self.delay_pct, Fault::Delay(delay)),
            (self.unavailable_pct, Fault::Status(503, None)),
            (self.throttled_pct, Fault::Status(429, Some("1"))),
            (self.reset_pct, Fault::Reset),
            (self.truncate_pct, Fault::Truncate),
        ] {
            edge += pct;
            if roll < edge {
                return Some(fault);
            }
        }
        None
    }
}

struct State {
    chaos: Mutex<Option<Chaos>>,
    draws: std::sync::atomic::AtomicU64,
    upstream: String,
    client: reqwest::Client,
    count: AtomicUsize,
    log: Mutex<Vec<String>>,
    rule: Mutex<Option<(String, Fault)>>,
}

/// The proxy, stopped with its runtime on drop.
pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    pub fn start(upstream_port: u16) -> Self {
        let state = Arc::new(State {
            chaos: Mutex::new(None),
            draws: std::sync::atomic::AtomicU64::new(0),
            upstream: format!("http://127.0.0.1:{upstream_port}"),
            client: reqwest::Client::new(),
            count: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            rule: Mutex::new(None),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let st = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let st = st.clone();
                async move { handle(st, method, uri, headers, body).await }
            },
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            port,
            state,
            _runtime: runtime,
        }
    }

    /// `localhost:PORT`.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// Misbehave with `fault` on requests whose path and query contain `pattern`.
    pub fn set_fault(&self, pattern: &str, fault: Fault) {
        *self.state.rule.lock().unwrap() = Some((pattern.to_owned(), fault));
    }

    /// Misbehave at random on every request (see [`Chaos`]); `None` stops.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        *self.state.chaos.lock().unwrap() = chaos;
    }

    pub fn clear(&self) {
        *self.state.rule.lock().unwrap() = None;
    }

    /// Requests seen under /v2/ since the last reset.
    pub fn count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        self.state.count.store(0, Ordering::SeqCst);
        self.state.log.lock().unwrap().clear();
    }
}

async fn handle(
    st: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response<Body> {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if pq.starts_with("/v2/") {
        st.count.fetch_add(1, Ordering::SeqCst);
        st.log.lock().unwrap().push(format!("{method} {pq}"));
    }
    let fault = st
        .rule
        .lock()
        .unwrap()
        .as_ref()
        .filter(|(pattern, _)| pq.contains(pattern.as_str()))
        .map(|(_, f)| f.clone());
    let chaos = *st.chaos.lock().unwrap();
    let fault =
        fault.or_else(|| chaos.and_then(|c| c.draw(st.draws.fetch_add(1, Ordering::SeqCst))));
    match &fault {
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Status(code, retry_after)) => {
            let mut resp = Response::builder()
                .status(*code)
                .header("content-type", "application/json");
            if let Some(ra) = retry_after {
                resp = resp.header("retry-after", *ra);
            }
            return resp
                .body(Body::from(
                    r#"{"errors":[{"code":"HOSTILE","message":"the proxy says no"}]}"#,
                ))
                .unwrap();
        }
        Some(Fault::Huge(n)) => {
            let mut junk = b"{\"schemaVersion\":2,\"x\":\"".to_vec();
            junk.resize(*n, b'a');
            return Response::builder()
                .status(200)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(Body::from(junk))
                .unwrap();
        }
        Some(Fault::Reset) => {
            // An error before the first byte makes the server drop the connection.
            let stream = futures_util::stream::iter(vec![Err::<axum::body::Bytes, _>(
                std::io::Error::other("reset"),
            )]);
            return Response::builder()
                .status(200)
                .header("content-length", "100")
                .body(Body::from_stream(stream))
                .unwrap();
        }
        Some(Fault::Endless) => {
            let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
            let stream =
                futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            return Response::builder()
                .status(200)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(Body::from_stream(stream))
                .unwrap();
        }
        _ => {}
    }
    let mut req = st.client.request(method, format!("{}{pq}", st.upstream));
    for name in ["accept", "authorization", "content-type"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.clone());
        }
    }
    let upstream = match req.body(body.to_vec()).send().await {
        Ok(r) => r,
        Err(_) => return Response::builder().status(502).body(Body::empty()).unwrap(),
    };
    let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap();
    let mut out = Response::builder().status(status);
    for (name, value) in upstream.headers() {
        let n = name.as_str();
        if matches!(
            n,
            "content-type"
                | "docker-content-digest"
                | "www-authenticate"
                | "location"
                | "oci-subject"
                | "retry-after"
        ) {
            out = out.header(n, HeaderValue::from_bytes(value.as_bytes()).unwrap());
        }
    }
    let mut bytes = upstream
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    match fault {
        Some(Fault::Corrupt) if !bytes.is_empty() => {
            let i = bytes.len() / 2;
            bytes[i] ^= 0x01;
        }
        Some(Fault::Truncate) => {
            let full = bytes.len();
            bytes.truncate(full / 2);
            let chunk = axum::body::Bytes::from(bytes);
            let stream = futures_util::stream::iter(vec![
                Ok::<_, std::io::Error>(chunk),
                Err(std::io::Error::other("connection cut")),
            ]);
            return out
                .header("content-length", full.to_string())
                .body(Body::from_stream(stream))
                .unwrap();
        }
        _ => {}
    }
    out.body(Body::from(bytes)).unwrap()
}
