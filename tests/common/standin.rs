//! Hostile stand-ins: tiny HTTP or HTTPS servers on 127.0.0.1 whose answers a
//! test scripts with a closure, and which record every request they get
//! (method, path and query, Authorization), so a test can assert that
//! nothing was sent where it must not go.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, Uri};

/// One request a stand-in received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
}

/// A scripted answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Reply {
            body: body.into(),
            ..Reply::status(200)
        }
    }

    pub fn json(value: serde_json::Value) -> Self {
        Reply::ok(value.to_string()).header("content-type", "application/json")
    }

    /// A 401 with this `WWW-Authenticate`.
    pub fn challenge(value: &str) -> Self {
        Reply::status(401).header("www-authenticate", value)
    }

    /// A 307 to `location`.
    pub fn redirect(location: &str) -> Self {
        Reply::status(307).header("location", location)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A running stand-in, stopped with its runtime on drop.
pub struct StandIn {
    pub port: u16,
    pub https: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl StandIn {
    /// Plain HTTP.
    pub fn http(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::start(None, Arc::new(handler))
    }

    /// HTTPS with `tls` (a certificate for localhost and 127.0.0.1).
    pub fn https(
        tls: &super::webhook::TlsMaterial,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::start(Some(tls), Arc::new(handler))
    }

    /// Plain HTTP on 127.0.0.1:`port` (0: any free port).
    pub fn http_at(port: u16, handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_at(port, None, Arc::new(handler))
    }

    fn start(tls: Option<&super::webhook::TlsMaterial>, handler: Handler) -> Self {
        Self::start_at(0, tls, handler)
    }

    fn start_at(port: u16, tls: Option<&super::webhook::TlsMaterial>, handler: Handler) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let handler = handler.clone();
                let log = log.clone();
                async move {
                    let s = Seen {
                        method: method.to_string(),
                        path: uri
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default(),
                        authorization: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                    };
                    log.lock().unwrap().push(s.clone());
                    let reply = handler(&s);
                    let mut resp = Response::builder().status(reply.status);
                    for (n, v) in &reply.headers {
                        resp = resp.header(n.as_str(), v.as_str());
                    }
                    resp.body(Body::from(reply.body)).unwrap()
                }
            });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        match tls {
            None => {
                runtime.spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
            }
            Some(tls) => {
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let config = runtime
                    .block_on(axum_server::tls_rustls::RustlsConfig::from_pem(
                        tls.cert_pem.as_bytes().to_vec(),
                        tls.key_pem.as_bytes().to_vec(),
                    ))
                    .unwrap();
                let std_listener = listener.into_std().unwrap();
                runtime.spawn(async move {
                    let _ = axum_server::from_tcp_rustls(std_listener, config)
                        .unwrap()
                        .serve(app.into_make_service())
                        .await;
                });
            }
        }
        StandIn {
            port,
            https: tls.is_some(),
            seen,
            _runtime: runtime,
        }
    }

    /// `localhost:PORT`.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// `127.0.0.1:PORT`: another host name for the same server.
    pub fn ip_host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `scheme://host` + `path`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!(
            "{}://{host}{path}",
            if self.https { "https" } else { "http" }
        )
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Manifest bytes of a small OCI image manifest, and their digest.
pub fn manifest() -> (Vec<u8>, String) {
    let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec();
    let digest = nv2::oci::Digest::of(&bytes).to_string();
    (bytes, digest)
}
