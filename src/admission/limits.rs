//! Bounds on what clients of the webhook port can make it hold: connections,
//! h2 streams, time to finish a TLS handshake, headers and body, and request
//! bytes buffered — per connection (all its streams together) and overall.
//!
//! - [`LimitAcceptor`] runs before the TLS handshake: past `max_connections`
//!   a new connection is closed at once. The permit lives in the
//!   connection's service ([`ConnService`]) and goes with the connection.
//! - [`read_body`] reads a request body under the read timeout, reserving
//!   every chunk first from the connection's budget ([`MAX_BODY`] for all
//!   its streams together) and then from a global one; a request that
//!   cannot reserve is refused (413 or 503) and nothing more of it is read.
//!   The global budget has two lanes, half each: the first [`SMALL_BODY`]
//!   bytes of every request, and the bytes past them. Admission reviews are
//!   small, so stalled large bodies (the slow-loris attack) exhaust only the
//!   second lane, and honest reviews still find room in the first.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::MAX_BODY;

/// The first this many bytes of each body come from the small lane.
pub(crate) const SMALL_BODY: usize = 64 << 10;

/// How much the webhook's clients may hold.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Open connections (TLS handshakes included); more are closed at once.
    pub max_connections: usize,
    /// Concurrent h2 streams per connection.
    pub max_streams: u32,
    /// Bound on the TLS handshake, on the request headers, and on the whole body.
    pub read_timeout: Duration,
    /// Request body bytes buffered across all connections (half for the
    /// first [`SMALL_BODY`] bytes of each request, half for the rest).
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
    small: Arc<Semaphore>,
    large: Arc<Semaphore>,
    lane: usize,
}

impl Budgets {
    pub fn new(limits: ServerLimits) -> Arc<Self> {
        let lane = (limits.buffered_bytes / 2).max(MAX_BODY);
        Arc::new(Budgets {
            limits,
            connections: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            small: Arc::new(Semaphore::new(lane)),
            large: Arc::new(Semaphore::new(lane)),
            lane,
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.limits.max_connections.max(1) - self.connections.available_permits()
    }

    /// Request bytes buffered now.
    pub fn buffered_bytes(&self) -> usize {
        2 * self.lane - self.small.available_permits() - self.large.available_permits()
    }
}

/// One connection: its slot, and the bytes its requests may buffer together.
pub(crate) struct Conn {
    _slot: OwnedSemaphorePermit,
    bytes: Arc<Semaphore>,
}

/// Admits a connection only while there is a slot for it (before TLS).
#[derive(Clone)]
pub(crate) struct LimitAcceptor {
    budgets: Arc<Budgets>,
}

impl LimitAcceptor {
    pub(crate) fn new(budgets: Arc<Budgets>) -> Self {
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
pub(crate) struct ConnService<S> {
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
pub(crate) struct Buffered {
    pub bytes: Vec<u8>,
    _reserved: Vec<OwnedSemaphorePermit>,
}

/// Why a body was not read; each is a one-line answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BodyError {
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
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge | BodyError::ConnectionFull => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Read => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads `req`'s body within the read timeout and the byte budgets.
// Over 60 lines: the body is read under three budgets at once (bytes, time, process-wide buffer).
pub(crate) async fn read_body(
    budgets: &Budgets,
    req: Request<Body>,
) -> Result<Buffered, BodyError> {
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
        if let Some(conn) = &conn {
            out._reserved
                .push(reserve(&conn.bytes, n).ok_or(BodyError::ConnectionFull)?);
        }
        let small = SMALL_BODY.saturating_sub(out.bytes.len()).min(n);
        if small > 0 {
            out._reserved
                .push(reserve(&budgets.small, small).ok_or(BodyError::Busy)?);
        }
        if n > small {
            out._reserved
                .push(reserve(&budgets.large, n - small).ok_or(BodyError::Busy)?);
        }
        out.bytes.extend_from_slice(&data);
    }
}

/// `n` bytes of `budget`, now or not at all.
fn reserve(budget: &Arc<Semaphore>, n: usize) -> Option<OwnedSemaphorePermit> {
    budget
        .clone()
        .try_acquire_many_owned(u32::try_from(n).ok()?)
        .ok()
}

/// Applies the limits to hyper's HTTP/1 and HTTP/2 settings.
pub(crate) fn configure<A>(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(mib: usize, timeout_ms: u64) -> Arc<Budgets> {
        Budgets::new(ServerLimits {
            max_connections: 4,
            max_streams: 4,
            read_timeout: Duration::from_millis(timeout_ms),
            buffered_bytes: mib << 20,
        })
    }

    fn conn() -> Arc<Conn> {
        Arc::new(Conn {
            _slot: Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap(),
            bytes: Arc::new(Semaphore::new(MAX_BODY)),
        })
    }

    fn request(body: Body, conn: Option<&Arc<Conn>>) -> Request<Body> {
        let mut req = Request::new(body);
        if let Some(c) = conn {
            req.extensions_mut().insert(c.clone());
        }
        req
    }

    /// A body that sends `n` bytes and then never ends.
    fn stalled(n: usize) -> Body {
        let first = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes_of(n))]);
        Body::from_stream(futures_util::StreamExt::chain(
            first,
            futures_util::stream::pending(),
        ))
    }

    fn bytes_of(n: usize) -> axum::body::Bytes {
        axum::body::Bytes::from(vec![b' '; n])
    }

    #[tokio::test]
    async fn bodies_are_bounded_per_request_and_per_connection() {
        let b = budgets(64, 1000);
        let big = Body::from(vec![b' '; MAX_BODY + 1]);
        assert_eq!(
            read_body(&b, request(big, None)).await.err(),
            Some(BodyError::TooLarge)
        );
        // Two streams of one connection share its 3 MiB.
        let c = conn();
        let first = read_body(&b, request(Body::from(vec![b' '; 2 << 20]), Some(&c)))
            .await
            .unwrap();
        let second = read_body(&b, request(Body::from(vec![b' '; 2 << 20]), Some(&c))).await;
        assert_eq!(second.err(), Some(BodyError::ConnectionFull));
        drop(first);
        assert!(
            read_body(&b, request(Body::from(vec![b' '; 2 << 20]), Some(&c)))
                .await
                .is_ok(),
            "the budget comes back with the body"
        );
        assert_eq!(b.buffered_bytes(), 0);
    }

    #[tokio::test]
    async fn large_bodies_cannot_crowd_out_small_ones() {
        let b = budgets(8, 1000);
        let mut held = Vec::new();
        let mut busy = 0;
        for _ in 0..10 {
            match read_body(&b, request(Body::from(vec![b' '; 1 << 20]), Some(&conn()))).await {
                Ok(body) => held.push(body),
                Err(e) => {
                    assert_eq!(e, BodyError::Busy);
                    assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
                    busy += 1;
                }
            }
        }
        assert!(busy > 0 && b.buffered_bytes() <= 8 << 20);
        // A review-sized body still gets in.
        let small = read_body(&b, request(Body::from(vec![b' '; 20 << 10]), Some(&conn())))
            .await
            .unwrap();
        assert_eq!(small.bytes.len(), 20 << 10);
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_and_releases_its_budget() {
        let b = budgets(8, 200);
        let started = tokio::time::Instant::now();
        let e = read_body(&b, request(stalled(100 << 10), Some(&conn())))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, BodyError::Timeout(_)), "{e}");
        assert_eq!(e.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(b.buffered_bytes(), 0);
        assert!(!e.to_string().contains('\n'));
    }
}
