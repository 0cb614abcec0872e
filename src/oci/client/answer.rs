//! Reading a registry's answers: bodies under their bound (reserved from a
//! process-wide pool before reading), manifests and blobs checked against
//! their digests, error answers in words, and the cap on requests in flight.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};

use serde::Deserialize;

use super::{MAX_SMALL_BODY, Manifest, RegistryError};
use crate::oci::digest::{Digest, shorten};
use crate::oci::reference::Reference;

/// A manifest answer: status, bounded body, digest checks, media type.
pub(super) async fn read_manifest(
    r: &Reference,
    resp: reqwest::Response,
    what: String,
    limit: u64,
) -> Result<Manifest, RegistryError> {
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(RegistryError::NotFound { what }),
        _ => return Err(status_error(resp, &what).await),
    }
    let header_digest = header_str(resp.headers(), "docker-content-digest");
    let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str());
    let bytes = read_body(resp, limit, &what).await?;
    let digest = Digest::of(&bytes);
    if let Some(expected) = r.digest()
        && *expected != digest
    {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: expected.to_string(),
            got: digest.to_string(),
        });
    }
    if let Some(h) = header_digest
        && h.starts_with("sha256:")
        && h != digest.as_str()
    {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: h,
            got: digest.to_string(),
        });
    }
    let media_type = crate::oci::target::media_type_of(&bytes)
        .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or_default().trim().to_owned()))
        .unwrap_or_default();
    Ok(Manifest {
        digest,
        media_type,
        bytes,
    })
}

/// A blob answer: status, body bounded by its declared size, digest check.
pub(super) async fn read_blob(
    resp: reqwest::Response,
    size: u64,
    digest: &Digest,
    what: String,
) -> Result<Vec<u8>, RegistryError> {
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(RegistryError::NotFound { what }),
        _ => return Err(status_error(resp, &what).await),
    }
    let bytes = read_body(resp, size, &what).await?;
    if bytes.len() as u64 != size || !digest.matches(&bytes) {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: digest.to_string(),
            got: Digest::of(&bytes).to_string(),
        });
    }
    Ok(bytes)
}

/// Requests to registries in flight at once, process-wide: each holds a
/// connection (a file descriptor) and buffers, and pod specs choose the
/// registries, so the total is bounded whatever reviews ask for.
pub(crate) const MAX_OUTBOUND: usize = 256;
/// A referrers index (API answer or fallback tag) is read up to this size.
pub(crate) const MAX_REFERRERS_INDEX: u64 = 2 << 20;

/// Bytes of registry answers being read at once, process-wide: with the
/// per-read limits this bounds what slow or stalling registries can make
/// the process hold, however many reviews name them.
pub(crate) const MAX_READ_BYTES: u64 = 32 << 20;

/// Reserves `bytes` of [`MAX_READ_BYTES`] (in KiB units) for one read;
/// waits, first come first served, until they are free.
pub(super) async fn reserve_read(
    bytes: u64,
    what: &str,
) -> Result<tokio::sync::SemaphorePermit<'static>, RegistryError> {
    const UNITS: usize = (MAX_READ_BYTES >> 10) as usize;
    static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(UNITS);
    let units = bytes.div_ceil(1024).clamp(1, UNITS as u64) as u32;
    READS
        .acquire_many(units)
        .await
        .map_err(|_| RegistryError::Transport {
            what: what.to_owned(),
            reason: "the client is shutting down".into(),
        })
}

/// A place among the [`MAX_OUTBOUND`] requests in flight; waits for one.
pub(super) async fn outbound_permit(
    what: &str,
) -> Result<tokio::sync::SemaphorePermit<'static>, RegistryError> {
    static OUTBOUND: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_OUTBOUND);
    OUTBOUND
        .acquire()
        .await
        .map_err(|_| RegistryError::Transport {
            what: what.to_owned(),
            reason: "the client is shutting down".into(),
        })
}

pub(super) fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

pub(super) use crate::text::short_line as one_line;

/// What went wrong on the wire, in words: the timeout, or the chain of causes
/// under reqwest's "error sending request for url (…)".
pub(super) fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut causes = Vec::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !causes.iter().any(|c: &String| c.contains(&text)) {
            causes.push(text);
        }
        src = s.source();
    }
    let reason = if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    };
    let reason = if e.is_connect() && !reason.starts_with("connection") {
        format!("connection failed: {reason}")
    } else {
        reason
    };
    crate::oci::digest::shorten_to(&reason.replace('\n', " "), 240)
}

/// Reads a response body, failing as soon as it passes `limit` bytes.
pub(super) async fn read_body(
    mut resp: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(RegistryError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    // What this read may buffer, reserved before reading (the announced
    // length, else the limit): bodies in flight are bounded process-wide.
    let _reserved = reserve_read(resp.content_length().unwrap_or(limit).min(limit), what).await?;
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() as u64 + chunk.len() as u64 > limit {
                    return Err(RegistryError::TooLarge {
                        what: what.to_owned(),
                        limit,
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => {
                return Err(RegistryError::Transport {
                    what: what.to_owned(),
                    reason: format!("reading the body: {}", transport_reason(&e)),
                });
            }
        }
    }
}

/// A non-success answer, with the registry's own error message when it gives one.
pub(super) async fn status_error(resp: reqwest::Response, what: &str) -> RegistryError {
    let status = resp.status();
    let retry_after = header_str(resp.headers(), "retry-after");
    let body = read_body(resp, MAX_SMALL_BODY, what)
        .await
        .unwrap_or_default();
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    let mut message = String::new();
    if let Ok(errs) = serde_json::from_slice::<Errors>(&body)
        && let Some(e) = errs.errors.first()
    {
        let text = [e.code.as_deref(), e.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        if !text.is_empty() {
            message = format!(": {}", one_line(text));
        }
    }
    if let Some(ra) = retry_after {
        message.push_str(&format!(" (retry after {})", shorten(&ra)));
    }
    let reason = status.canonical_reason().unwrap_or("");
    RegistryError::Status {
        what: what.to_owned(),
        status: status.as_u16(),
        message: format!(
            "{}{message}",
            if reason.is_empty() {
                String::new()
            } else {
                format!(" {reason}")
            }
        ),
    }
}
