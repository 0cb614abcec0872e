//! Fairness between tenants: the images one namespace's reviews verify at
//! once are bounded, so a pod author who names registries that stall holds
//! at most that share of the process-wide pools (requests in flight, bytes
//! being read, discovery slots) and other namespaces' new images keep going.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Images one namespace may have in verification at once.
pub(crate) const IMAGES_PER_NAMESPACE: usize = 8;

/// One semaphore per namespace, created on first use and dropped when no
/// review of that namespace holds it.
#[derive(Default)]
pub(crate) struct Tenants {
    by_namespace: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Tenants {
    /// Waits for one of `namespace`'s places; the place is held as long as
    /// the returned permit lives.
    pub(crate) async fn place(&self, namespace: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut map = self.by_namespace.lock().unwrap_or_else(|p| p.into_inner());
            // Forget namespaces nobody waits on (the map stays as small as
            // the set of namespaces with reviews in flight).
            if map.len() > 1024 {
                map.retain(|_, s| Arc::strong_count(s) > 1);
            }
            // Look up before inserting: no allocation on the warm path.
            match map.get(namespace) {
                Some(s) => s.clone(),
                None => map
                    .entry(namespace.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(IMAGES_PER_NAMESPACE)))
                    .clone(),
            }
        };
        semaphore.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_namespace_cannot_take_every_place() {
        let tenants = Tenants::default();
        let mut held = Vec::new();
        for _ in 0..IMAGES_PER_NAMESPACE {
            held.push(tenants.place("attacker").await);
        }
        // The attacker's next image waits...
        let blocked = tokio::time::timeout(Duration::from_millis(50), tenants.place("attacker"));
        assert!(blocked.await.is_err());
        // ...another namespace does not.
        let other = tokio::time::timeout(Duration::from_millis(50), tenants.place("team-a"));
        assert!(other.await.is_ok());
        drop(held);
        assert!(tenants.place("attacker").await.is_some());
    }
}
