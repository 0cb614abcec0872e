//! A bounded TTL cache that also collapses identical lookups in flight: the
//! first caller computes, concurrent callers for the same key await its result.
//!
//! Built on `quick_cache` (CLOCK-Pro, sharded): eviction past capacity is
//! O(1) amortised, not a scan of the map under one lock. A computation whose
//! caller gives up (its request hit the deadline) leaves nothing behind: the
//! placeholder goes with the dropped future, or passes to a waiting caller,
//! and the next caller computes again. Expired entries are recomputed in
//! place, and count against the capacity until then.

use std::hash::Hash;
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, EntryAction, EntryResult};

#[derive(Clone)]
struct Entry<V> {
    value: V,
    expires: Instant,
}

/// Weighs entries by a function of the value (1 each by default).
struct Weigh<V>(fn(&V) -> u64);

impl<V> Clone for Weigh<V> {
    fn clone(&self) -> Self {
        Weigh(self.0)
    }
}

impl<K, V> quick_cache::Weighter<K, Entry<V>> for Weigh<V> {
    fn weight(&self, _: &K, e: &Entry<V>) -> u64 {
        (self.0)(&e.value).max(1)
    }
}

type Inner<K, V> = Cache<
    K,
    Entry<V>,
    Weigh<V>,
    std::hash::RandomState,
    quick_cache::sync::DefaultLifecycle<K, Entry<V>>,
>;

/// Keyed values that expire; at most about `capacity` entries (or weight) are kept.
pub(crate) struct TtlCache<K, V> {
    inner: Inner<K, V>,
}

/// Whether a lookup was served from the cache (or joined one in flight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Hit,
    Miss,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self::weighted(capacity, capacity as u64, |_| 1)
    }

    /// At most `weight` in all, as `weigh` weighs values (e.g. bytes), for
    /// about `items` entries.
    pub(crate) fn weighted(items: usize, weight: u64, weigh: fn(&V) -> u64) -> Self {
        TtlCache {
            inner: Cache::with(
                items.max(1),
                weight.max(1),
                Weigh(weigh),
                std::hash::RandomState::new(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
        }
    }

    /// The value for `key`, computing it with `compute` when absent or
    /// expired; `ttl` says how long a computed value stays.
    pub(crate) async fn get_or_compute<F, Fut>(
        &self,
        key: K,
        compute: F,
        ttl: impl Fn(&V) -> Duration,
    ) -> (V, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        // Fast path: a fresh entry, under the shard's read lock.
        let now = Instant::now();
        if let Some(e) = self.inner.get(&key)
            && now < e.expires
        {
            return (e.value, Lookup::Hit);
        }
        let guard = match self
            .inner
            .entry_async(&key, |_, e| {
                if Instant::now() < e.expires {
                    EntryAction::Retain(e.value.clone())
                } else {
                    EntryAction::ReplaceWithGuard
                }
            })
            .await
        {
            // Fresh, possibly filled by a computation this call waited for.
            EntryResult::Retained(v) => return (v, Lookup::Hit),
            EntryResult::Vacant(g) | EntryResult::Replaced(g, _) => Some(g),
            // Neither happens without a timeout or `Remove`; compute uncached.
            EntryResult::Removed(..) | EntryResult::Timeout => None,
        };
        let value = compute().await;
        if let Some(g) = guard {
            let expires = Instant::now() + ttl(&value);
            let _ = g.insert(Entry {
                value: value.clone(),
                expires,
            });
        }
        (value, Lookup::Miss)
    }

    /// Entries held (fresh or expired, not yet evicted); computations in
    /// flight are not counted.
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// The bound on entries (or on their weight).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> u64 {
        self.inner.capacity()
    }

    /// The weight held (the entry count, unless weighted).
    #[cfg(test)]
    pub(crate) fn weight(&self) -> u64 {
        self.inner.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn collapses_concurrent_lookups_and_expires() {
        let cache = Arc::new(TtlCache::<String, u32>::new(100));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_compute(
                        "k".to_owned(),
                        || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            7
                        },
                        |_| Duration::from_millis(100),
                    )
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().0, 7);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let (_, lookup) = cache
            .get_or_compute("k".to_owned(), || async { 8 }, |_| Duration::from_secs(1))
            .await;
        assert_eq!(lookup, Lookup::Hit);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (v, lookup) = cache
            .get_or_compute("k".to_owned(), || async { 9 }, |_| Duration::from_secs(1))
            .await;
        assert_eq!((v, lookup), (9, Lookup::Miss));
        assert_eq!(cache.len(), 1, "the expired entry was replaced in place");
    }

    #[tokio::test]
    async fn a_cancelled_computation_is_retried() {
        let cache = TtlCache::<u8, u8>::new(10);
        let slow = cache.get_or_compute(
            1,
            || async { std::future::pending::<u8>().await },
            |_| Duration::from_secs(1),
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(20), slow)
                .await
                .is_err()
        );
        let (v, _) = cache
            .get_or_compute(1, || async { 5 }, |_| Duration::from_secs(1))
            .await;
        assert_eq!(v, 5);
    }

    /// A waiter whose computing caller gives up takes over, rather than
    /// waiting forever or failing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_takes_over_an_abandoned_computation() {
        let cache = Arc::new(TtlCache::<u8, u8>::new(10));
        let c = cache.clone();
        let first = tokio::spawn(async move {
            tokio::time::timeout(
                Duration::from_millis(100),
                c.get_or_compute(
                    1,
                    || async { std::future::pending::<u8>().await },
                    |_| Duration::from_secs(1),
                ),
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = tokio::time::timeout(
            Duration::from_secs(5),
            cache.get_or_compute(1, || async { 6 }, |_| Duration::from_secs(1)),
        )
        .await
        .expect("the waiter must not hang");
        assert_eq!(second, (6, Lookup::Miss));
        assert!(first.await.unwrap().is_err());
    }

    /// Abandoned computations leave no slot behind: many of them, on
    /// distinct keys, and the cache is still empty and usable.
    #[tokio::test]
    async fn abandoned_computations_leave_nothing() {
        let cache = TtlCache::<u32, u32>::new(100);
        for i in 0..5_000 {
            let slow = cache.get_or_compute(
                i,
                || async { std::future::pending::<u32>().await },
                |_| Duration::from_secs(60),
            );
            // Polled once (placeholder made), then dropped.
            assert!(
                tokio::time::timeout(Duration::from_micros(1), slow)
                    .await
                    .is_err()
            );
        }
        assert_eq!(cache.len(), 0);
        for i in 0..200 {
            cache
                .get_or_compute(i, || async move { i }, |_| Duration::from_secs(60))
                .await;
        }
        assert!(cache.len() <= 100, "{}", cache.len());
        assert!(cache.len() >= 50, "{}", cache.len());
    }

    #[tokio::test]
    async fn capacity_is_bounded() {
        let cache = TtlCache::<u32, u32>::new(100);
        for i in 0..100_000 {
            cache
                .get_or_compute(i, || async move { i }, |_| Duration::from_secs(60))
                .await;
        }
        assert!(cache.len() <= 100, "{}", cache.len());
        assert_eq!(cache.capacity(), 100);
    }

    #[tokio::test]
    async fn weighted_caches_bound_their_weight() {
        let cache = TtlCache::<u32, Vec<u8>>::weighted(100, 1 << 20, |v| v.len() as u64);
        for i in 0..1_000 {
            cache
                .get_or_compute(
                    i,
                    || async { vec![0u8; 64 << 10] },
                    |_| Duration::from_secs(60),
                )
                .await;
        }
        assert!(cache.weight() <= 1 << 20, "{}", cache.weight());
        assert!(cache.len() <= 16, "{}", cache.len());
    }

    /// Inserts past capacity stay cheap: O(1) amortised, not a scan of the
    /// whole map per insert (200,000 inserts into a full cache of 50,000).
    #[tokio::test]
    async fn eviction_is_not_a_scan() {
        let cache = TtlCache::<u32, u32>::new(50_000);
        let started = Instant::now();
        for i in 0..200_000 {
            cache
                .get_or_compute(i, || async move { i }, |_| Duration::from_secs(60))
                .await;
        }
        assert!(cache.len() <= 50_000);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }
}
