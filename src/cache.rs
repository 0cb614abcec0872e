//! A TTL cache that also collapses identical lookups in flight: the first
//! caller computes, concurrent callers for the same key await its result.
//!
//! A caller that gives up (its request hit the deadline) does not poison the
//! slot: the next caller computes again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

struct Slot<V> {
    cell: OnceCell<(V, Instant)>,
}

/// Keyed values that expire; at most `capacity` entries are kept.
pub struct TtlCache<K, V> {
    map: Mutex<HashMap<K, Arc<Slot<V>>>>,
    capacity: usize,
}

/// Whether a lookup was served from the cache (or joined one in flight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The value for `key`, computing it with `compute` when absent or
    /// expired; `ttl` says how long a computed value stays.
    pub async fn get_or_compute<F, Fut>(
        &self,
        key: K,
        compute: F,
        ttl: impl Fn(&V) -> Duration,
    ) -> (V, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let now = Instant::now();
        let (slot, fresh) = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&key) {
                Some(slot) if slot.cell.get().is_none_or(|(_, exp)| now < *exp) => {
                    (slot.clone(), false)
                }
                _ => {
                    if map.len() >= self.capacity {
                        evict(&mut map, now, self.capacity);
                    }
                    let slot = Arc::new(Slot {
                        cell: OnceCell::new(),
                    });
                    map.insert(key, slot.clone());
                    (slot, true)
                }
            }
        };
        let mut computed = false;
        let (value, _) = slot
            .cell
            .get_or_init(|| async {
                computed = true;
                let v = compute().await;
                let exp = Instant::now() + ttl(&v);
                (v, exp)
            })
            .await;
        let lookup = if computed || fresh {
            Lookup::Miss
        } else {
            Lookup::Hit
        };
        (value.clone(), lookup)
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }
}

/// Drops expired entries; if still full, a quarter of the completed ones.
fn evict<K: Hash + Eq + Clone, V>(
    map: &mut HashMap<K, Arc<Slot<V>>>,
    now: Instant,
    capacity: usize,
) {
    map.retain(|_, s| s.cell.get().is_none_or(|(_, exp)| now < *exp));
    if map.len() >= capacity {
        let victims: Vec<K> = map
            .iter()
            .filter(|(_, s)| s.cell.initialized())
            .map(|(k, _)| k.clone())
            .take(capacity / 4 + 1)
            .collect();
        for k in victims {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[tokio::test]
    async fn capacity_is_bounded() {
        let cache = TtlCache::<u32, u32>::new(100);
        for i in 0..1000 {
            cache
                .get_or_compute(i, || async move { i }, |_| Duration::from_secs(60))
                .await;
        }
        assert!(cache.len() <= 100, "{}", cache.len());
    }
}
