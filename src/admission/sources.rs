//! Files the webhook watches: the trust directory and the TLS certificate.
//! Polled (hash of contents) rather than inotify-watched: Kubernetes updates
//! mounted Secrets and ConfigMaps by swapping symlinks, which inotify
//! watchers often miss; reading a few small files each interval is cheap.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::AppState;
use crate::policy::document::{PolicyError, TrustInputs, TrustPolicy};

/// Installs a new configuration, or reports why it was kept out: the last
/// good one stays (or, before any, the webhook stays not ready).
fn apply(state: &AppState, source: &str, result: Result<TrustPolicy, PolicyError>) {
    match result {
        // A store that was deleted or emptied: with a configuration already
        // running, its trust is withdrawn at once (denying what only it
        // vouched for) and the configuration is reported invalid; at start,
        // the webhook stays not ready.
        Ok(policy) if !policy.withdrawn().is_empty() && state.engine.is_ready() => {
            let reason = policy.withdrawn().join("; ");
            state.metrics.set_policy_hosts(&policy);
            let generation = state.engine.set_policy(policy);
            state.metrics.reload(false, None);
            tracing::error!(source, generation, %reason, "trust store gone, empty or unreadable: its trust is withdrawn");
        }
        Ok(policy) if !policy.withdrawn().is_empty() => {
            state.metrics.reload(false, None);
            let reason = policy.withdrawn().join("; ");
            tracing::error!(source, %reason, "trust policy is invalid; not ready until it is fixed");
        }
        Ok(policy) => {
            state.metrics.set_policy_hosts(&policy);
            let generation = state.engine.set_policy(policy);
            state.metrics.reload(true, Some(generation));
            tracing::info!(source, generation, "trust policy loaded");
        }
        Err(reason) if state.engine.is_ready() => {
            state.metrics.reload(false, None);
            tracing::warn!(source, %reason, "trust policy change is invalid; keeping the last good configuration");
        }
        Err(reason) => {
            state.metrics.reload(false, None);
            tracing::error!(source, %reason, "trust policy is invalid; not ready until it is fixed");
        }
    }
}

impl crate::admission::configmaps::PolicySink for AppState {
    fn apply(&self, result: Result<TrustPolicy, PolicyError>) {
        apply(self, "ConfigMaps", result);
    }
}

/// Loads the trust directory once; a bad one leaves the webhook not ready.
pub(super) fn load_trust_dir(state: &AppState, dir: &Path) {
    apply(
        state,
        &dir.display().to_string(),
        TrustPolicy::load_dir(dir),
    );
}

/// Reads the trust directory; remembers its document when it parses, and
/// with a broken document still withdraws what a store removal withdraws.
fn reload_trust_dir(state: &AppState, dir: &Path, last_document: &mut Option<Vec<u8>>) {
    let inputs = TrustInputs::from_dir(dir);
    if let Ok(doc) = &inputs.document
        && TrustPolicy::parse(doc, &inputs.stores).is_ok()
    {
        *last_document = Some(doc.clone());
    }
    let result = inputs.policy_or_withdrawal(last_document.as_deref());
    apply(state, &dir.display().to_string(), result);
}

/// Re-reads the trust directory when its files change; a bad change keeps
/// the last good configuration.
/// Each poll runs on the blocking pool: file systems can be slow, and no
/// read may hold an async worker (health checks and reviews go on).
pub(super) async fn watch_trust_dir(state: Arc<AppState>, dir: PathBuf, every: Duration) {
    let mut last = fingerprint_dir(&dir);
    let mut last_document = TrustInputs::from_dir(&dir).document.ok();
    loop {
        tokio::time::sleep(every).await;
        let (state, dir, seen) = (state.clone(), dir.clone(), last.clone());
        let mut document = last_document.take();
        let polled = tokio::task::spawn_blocking(move || {
            let now = fingerprint_dir(&dir);
            if now != seen {
                reload_trust_dir(&state, &dir, &mut document);
            }
            (now, document)
        })
        .await;
        match polled {
            Ok((now, document)) => {
                last = now;
                last_document = document;
            }
            Err(e) => tracing::error!(error = %e, "trust directory poll failed"),
        }
    }
}

/// A hash over every file under `dir` (paths and contents).
fn fingerprint_dir(dir: &Path) -> Vec<u8> {
    let mut files = Vec::new();
    collect_files(dir, &mut files, 0);
    files.sort();
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for f in files {
        ctx.update(f.to_string_lossy().as_bytes());
        if let Ok(bytes) = crate::io::read_config(&f, 4 << 20) {
            ctx.update(&bytes);
        }
    }
    ctx.finish().as_ref().to_vec()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out, depth + 1);
        } else {
            out.push(p);
        }
    }
}

/// Reloads the serving certificate when the files change; new handshakes get
/// the new one, open connections are not dropped, a bad pair is refused.
pub(super) async fn watch_tls(
    tls: axum_server::tls_rustls::RustlsConfig,
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
) {
    // Off the async workers, like the trust directory's polls.
    let read = |cert: PathBuf, key: PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            (
                crate::io::read_config(&cert, crate::io::MAX_CERT_FILE).ok(),
                crate::io::read_config(&key, crate::io::MAX_CERT_FILE).ok(),
            )
        })
        .await
        .unwrap_or((None, None))
    };
    let mut last = read(cert.clone(), key.clone()).await;
    loop {
        tokio::time::sleep(every).await;
        let now = read(cert.clone(), key.clone()).await;
        if now == last {
            continue;
        }
        if let (Some(c), Some(k)) = now.clone() {
            match tls.reload_from_pem(c, k).await {
                Ok(()) => tracing::info!(cert = %cert.display(), "TLS certificate reloaded"),
                Err(e) => {
                    tracing::warn!(cert = %cert.display(), error = %e, "new TLS certificate is invalid; keeping the old one")
                }
            }
        }
        last = now;
    }
}
