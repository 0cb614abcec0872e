//! Bounds on what clients of the webhook port can make it hold: connections,
//! h2 streams, time to finish a TLS handshake, headers and body, and request
//! bytes buffered — per connection (all its streams together) and overall.
//!
//! - [`LimitAcceptor`] runs before the TLS handshake: past `max_connections`
//!   a new connection is closed at once. The permit lives in the
//!   connection's service ([`ConnService`]) and goes with the connection.
//! - [`read_body`] reads a request body under the read timeout, reserving
//!   every chunk first from the connection's budget ([`MAX_BODY`] for all
//!   its streams together) and then from the global one; a request that
//!   cannot reserve is refused (413 or 503) and nothing more of it is read.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::MAX_BODY;

/// How much the webhook's clients may hold.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Open connections (TLS handshakes included); more are closed at once.
    pub max_connections: usize,
    /// Concurrent h2 streams per connection.
    pub max_streams: u32,
    /// Bound on the TLS handshake, on the request headers, and on the whole body.
    pub read_timeout: Duration,
    /// Request body bytes buffered across all connections.
    pub buffered_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 256,
            max_streams: 32,
            read_timeout: Duration::from_secs(5),
            buffered_bytes: 32 << 20,
        }
    }
}

/// The shared state behind [`ServerLimits`].
pub struct Budgets {
    pub limits: ServerLimits,
    connections: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
}

impl Budgets {
    pub fn new(limits: ServerLimits) -> Arc<Self> {
        Arc::new(Budgets {
            limits,
            connections: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            bytes: Arc::new(Semaphore::new(limits.buffered_bytes.max(MAX_BODY))),
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.limits.max_connections.max(1) - self.connections.available_permits()
    }

    /// Request bytes buffered now.
    pub fn buffered_bytes(&self) -> usize {
        self.limits.buffered_bytes.max(MAX_BODY) - self.bytes.available_permits()
    }
}

/// One connection: its slot, and the bytes its requests may buffer together.
pub struct Conn {
    _slot: OwnedSemaphorePermit,
    bytes: Arc<Semaphore>,
}

/// Admits a connection only while there is a slot for it (before TLS).
#[derive(Clone)]
pub struct LimitAcceptor {
    budgets: Arc<Budgets>,
}

impl LimitAcceptor {
    pub fn new(budgets: Arc<Budgets>) -> Self {
        LimitAcceptor { budgets }
    }
}

impl<I, S> axum_server::accept::Accept<I, S> for LimitAcceptor {
    type Stream = I;
    type Service = ConnService<S>;
    type Future = std::future::Ready<io::Result<(I, ConnService<S>)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = match self.budgets.connections.clone().try_acquire_owned() {
            Ok(slot) => Ok((
                stream,
                ConnService {
                    inner: service,
                    conn: Arc::new(Conn {
                        _slot: slot,
                        bytes: Arc::new(Semaphore::new(MAX_BODY)),
                    }),
                },
            )),
            // Dropping the stream closes the connection.
            Err(_) => Err(io::Error::other("connection limit reached")),
        };
        std::future::ready(accepted)
    }
}

/// A connection's service: puts the [`Conn`] into each request's extensions.
#[derive(Clone)]
pub struct ConnService<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S, B> tower_service::Service<Request<B>> for ConnService<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.conn.clone());
        self.inner.call(req)
    }
}

/// A body read whole, with the budget it holds until dropped.
pub struct Buffered {
    pub bytes: Vec<u8>,
    _reserved: Vec<OwnedSemaphorePermit>,
}

/// Why a body was not read; each is a one-line answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("request body over the {MAX_BODY}-byte limit")]
    TooLarge,
    #[error("request bodies on this connection together exceed {MAX_BODY} bytes")]
    ConnectionFull,
    #[error("the webhook is holding its limit of request bytes; retry")]
    Busy,
    #[error("request body not received within {0:?}")]
    Timeout(Duration),
    #[error("reading the request body failed")]
    Read,
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge | BodyError::ConnectionFull => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Read => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads `req`'s body within the read timeout and the byte budgets.
pub async fn read_body(budgets: &Budgets, req: Request<Body>) -> Result<Buffered, BodyError> {
    let conn = req.extensions().get::<Arc<Conn>>().cloned();
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let timeout = budgets.limits.read_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        // Read and drop (never buffer) a little past the limit, so that a
        // client that is still sending can read the 413.
        let mut left = 2 * MAX_BODY;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
            let n = frame.data_ref().map_or(0, |d| d.len());
            if n >= left {
                break;
            }
            left -= n;
        }
        return Err(BodyError::TooLarge);
    }
    let mut out = Buffered {
        bytes: Vec::new(),
        _reserved: Vec::new(),
    };
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout(timeout)),
            Ok(None) => return Ok(out),
            Ok(Some(Err(_))) => return Err(BodyError::Read),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let n = data.len();
        if n == 0 {
            continue;
        }
        if out.bytes.len() + n > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        let permits = u32::try_from(n).map_err(|_| BodyError::TooLarge)?;
        if let Some(conn) = &conn {
            let p = conn
                .bytes
                .clone()
                .try_acquire_many_owned(permits)
                .map_err(|_| BodyError::ConnectionFull)?;
            out._reserved.push(p);
        }
        let p = budgets
            .bytes
            .clone()
            .try_acquire_many_owned(permits)
            .map_err(|_| BodyError::Busy)?;
        out._reserved.push(p);
        out.bytes.extend_from_slice(&data);
    }
}

/// Applies the limits to hyper's HTTP/1 and HTTP/2 settings.
pub fn configure<A>(
    server: &mut axum_server::Server<std::net::SocketAddr, A>,
    limits: &ServerLimits,
) {
    let builder = server.http_builder();
    builder
        .http1()
        .header_read_timeout(limits.read_timeout)
        .max_buf_size(64 << 10);
    builder
        .http2()
        .max_concurrent_streams(limits.max_streams)
        .max_header_list_size(64 << 10)
        .max_pending_accept_reset_streams(Some(20))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
}
