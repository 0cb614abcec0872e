//! What registries granted: Bearer tokens and "this host wants Basic" marks,
//! bounded in entries and bytes, each expiring.
//!
//! Keys are (client id, registry host, scope): a grant obtained by one
//! [`super::Registry`] (one set of credentials) is never presented by another,
//! nor to another host. Tokens live as long as the token service's
//! `expires_in` says (60 s when it says nothing, as the distribution spec
//! defines, at most an hour); a token over [`MAX_TOKEN`] bytes is refused.
//! One store is shared by every client made from the same options, so the
//! bound holds for the whole webhook, not per tenant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use reqwest::header::HeaderValue;

/// Tokens larger than this are refused (real ones are 0.2–3 KiB).
pub(crate) const MAX_TOKEN: usize = 8 << 10;
/// Default bound on the bytes of all grants held.
pub(crate) const DEFAULT_BYTES: u64 = 4 << 20;
/// Each entry weighs at least this, so `bytes / MIN_WEIGHT` bounds the entries.
pub(crate) const MIN_WEIGHT: u64 = 1 << 10;
/// `expires_in` when the token service gives none (distribution spec).
pub(crate) const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Never trust a token for longer than this.
pub(crate) const MAX_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long a "this host asked for Basic" mark lasts.
const BASIC_TTL: Duration = Duration::from_secs(600);

/// Something a registry granted.
#[derive(Clone, Debug)]
pub(crate) enum Grant {
    /// `Bearer <token>`, ready to send: clones share one buffer, so no
    /// request copies the token.
    Bearer(HeaderValue),
    /// The host asked for Basic credentials: send them up front.
    Basic,
}

#[derive(Clone)]
struct Held {
    grant: Grant,
    expires: Instant,
}

type Key = (u64, String, String);

#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Held> for ByBytes {
    fn weight(&self, key: &Key, held: &Held) -> u64 {
        let token = match &held.grant {
            Grant::Bearer(t) => t.len(),
            Grant::Basic => 0,
        };
        ((key.1.len() + key.2.len() + token + 64) as u64).max(MIN_WEIGHT)
    }
}

/// Grants of every client made from one set of options.
pub struct AuthStore {
    cache: Cache<Key, Held, ByBytes>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStore")
            .field("entries", &self.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl Default for AuthStore {
    fn default() -> Self {
        AuthStore::new(DEFAULT_BYTES)
    }
}

impl AuthStore {
    /// A store holding at most `bytes` (and `bytes / MIN_WEIGHT` entries).
    pub fn new(bytes: u64) -> Self {
        let bytes = bytes.max(64 * MIN_WEIGHT);
        AuthStore {
            cache: Cache::with_weighter((bytes / MIN_WEIGHT) as usize, bytes, ByBytes),
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh id for one client.
    pub(crate) fn client_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn get(&self, id: u64, host: &str, scope: &str) -> Option<Grant> {
        let key = (id, host.to_owned(), scope.to_owned());
        let held = self.cache.get(&key)?;
        if Instant::now() < held.expires {
            return Some(held.grant);
        }
        self.cache.remove_if(&key, |h| Instant::now() >= h.expires);
        None
    }

    pub(crate) fn bearer(
        &self,
        id: u64,
        host: &str,
        scope: &str,
        token: HeaderValue,
        ttl: Duration,
    ) {
        if token.len() > MAX_TOKEN + 7 {
            return;
        }
        self.put(
            id,
            host,
            scope,
            Grant::Bearer(token),
            ttl.min(MAX_TOKEN_TTL),
        );
    }

    pub(crate) fn basic(&self, id: u64, host: &str) {
        self.put(id, host, "", Grant::Basic, BASIC_TTL);
    }

    fn put(&self, id: u64, host: &str, scope: &str, grant: Grant, ttl: Duration) {
        self.cache.insert(
            (id, host.to_owned(), scope.to_owned()),
            Held {
                grant,
                expires: Instant::now() + ttl,
            },
        );
    }

    /// Entries held (some may have expired and await eviction).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held, as weighed (at least [`MIN_WEIGHT`] per entry).
    pub fn bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// The bound on [`Self::bytes`].
    pub fn capacity(&self) -> u64 {
        self.cache.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    #[test]
    fn bounded_in_bytes_and_entries() {
        let store = AuthStore::new(1 << 20);
        let token = bearer(&"t".repeat(MAX_TOKEN));
        for i in 0..10_000 {
            store.bearer(
                1,
                "evil.example",
                &format!("repository:r{i}:pull"),
                token.clone(),
                Duration::from_secs(60),
            );
        }
        assert!(store.bytes() <= 1 << 20, "{}", store.bytes());
        assert!(store.len() <= 128, "{}", store.len());
        for i in 0..10_000 {
            store.basic(2, &format!("h{i}.example"));
        }
        assert!(store.len() <= 1024, "{}", store.len());
        assert!(store.bytes() <= 1 << 20);
    }

    #[test]
    fn oversized_tokens_are_not_kept() {
        let store = AuthStore::default();
        let big = bearer(&"t".repeat(MAX_TOKEN + 1));
        store.bearer(1, "h", "s", big, Duration::from_secs(60));
        assert!(store.get(1, "h", "s").is_none());
    }

    #[test]
    fn grants_expire_and_stay_with_their_client_and_host() {
        let store = AuthStore::default();
        store.bearer(1, "h", "s", bearer("tok"), Duration::from_millis(30));
        assert!(matches!(store.get(1, "h", "s"), Some(Grant::Bearer(t)) if t == "Bearer tok"));
        assert!(store.get(2, "h", "s").is_none());
        assert!(store.get(1, "other", "s").is_none());
        std::thread::sleep(Duration::from_millis(50));
        assert!(store.get(1, "h", "s").is_none());
        assert_eq!(store.len(), 0, "an expired grant is dropped when seen");
    }
}
