//! Policy-driven image verification, as the webhook (and `nv2 verify
//! --trust-dir`) needs it: match the trust policy scope, resolve the tag to
//! a digest, verify the linked signatures with the scope's trust material, and
//! turn the verdict into allow / warn / deny by the policy level.
//!
//! Verdicts are cached by (repository, digest, policy generation) with
//! separate success and failure TTLs; tag → digest answers are cached briefly;
//! identical lookups in flight are made once (see [`crate::cache`]).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::decision::{self, when_unverifiable};
use crate::cache::{Lookup, TtlCache};
use crate::oci::client::auth::Basic;
use crate::oci::client::{Credentials, Registry, RegistryError, RegistryOptions};
use crate::oci::digest::Digest;
use crate::oci::reference::Reference;
use crate::policy::document::TrustPolicy;
use crate::verify::pipeline::{Requirements, Subject};

pub use super::decision::Decision;

/// The outcome for one image reference.
#[derive(Clone, Debug)]
pub struct ImageOutcome {
    /// The image as written in the object.
    pub image: String,
    /// The trust policy that applied.
    pub policy: Option<String>,
    /// The manifest digest, when resolved.
    pub digest: Option<Digest>,
    pub decision: Decision,
}

impl ImageOutcome {
    /// Verified, with a digest to pin to.
    pub fn pinnable(&self) -> Option<&Digest> {
        match self.decision {
            Decision::Allow => self.digest.as_ref(),
            _ => None,
        }
    }
}

/// Cache lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct CacheTtls {
    pub verified: Duration,
    pub failed: Duration,
    pub tag: Duration,
}

impl Default for CacheTtls {
    fn default() -> Self {
        CacheTtls {
            verified: Duration::from_secs(300),
            failed: Duration::from_secs(30),
            tag: Duration::from_secs(30),
        }
    }
}

/// Counts cache lookups (for metrics).
pub trait EngineObserver: Send + Sync {
    fn cache_lookup(&self, cache: &'static str, hit: bool);
    fn verification(&self, result: &'static str);
}

/// The current policy and its generation.
pub struct LoadedPolicy {
    pub policy: TrustPolicy,
    pub generation: u64,
}

/// (repository, digest, policy generation, credential id).
type VerdictKey = (String, Digest, u64, u64);

#[derive(Clone)]
struct Verified {
    decision: Decision,
    /// A pass must not be cached past the signature's or certificate's expiry.
    valid_until: Option<i64>,
    /// The signatures could not be read (registry or transport error): kept
    /// only briefly, so a blip does not deny an image for the failure TTL.
    transient: bool,
}

/// The longest a verdict from a registry error is kept.
const TRANSIENT_TTL: Duration = Duration::from_secs(2);

/// Image verification under a trust policy, with caches.
///
/// Registry access depends on credentials, so every cache key carries the id
/// of the credentials used for the image's registry (none, the webhook's own,
/// or a workload's pull secret): a verdict or tag answer obtained with one
/// tenant's credentials is never served to a request that did not present
/// the same credentials.
pub struct Engine {
    base: RegistryOptions,
    /// The client all per-credential clients share their connections with.
    base_registry: Registry,
    registries: std::sync::Mutex<std::collections::HashMap<u64, Arc<Registry>>>,
    policy: RwLock<Option<Arc<LoadedPolicy>>>,
    verdicts: TtlCache<VerdictKey, Verified>,
    tags: TtlCache<(u64, String), Result<(Digest, u64), RegistryError>>,
    ttls: CacheTtls,
    observer: Option<Arc<dyn EngineObserver>>,
}

impl Engine {
    /// `base` says how to reach registries; its credentials are the default ones.
    pub fn new(
        base: RegistryOptions,
        ttls: CacheTtls,
        observer: Option<Arc<dyn EngineObserver>>,
    ) -> Result<Self, String> {
        // Fails early on options that cannot make a client (a bad CA file).
        let base_registry = Registry::new(base.clone())?;
        Ok(Engine {
            base,
            base_registry,
            registries: std::sync::Mutex::new(std::collections::HashMap::new()),
            policy: RwLock::new(None),
            verdicts: TtlCache::new(200_000),
            tags: TtlCache::new(50_000),
            ttls,
            observer,
        })
    }

    /// The default credentials (the webhook's own Docker config).
    pub fn credentials(&self) -> &Credentials {
        &self.base.credentials
    }

    /// A registry client that presents exactly `basic` (or nothing), and its
    /// id: 0 for none, else 64 bits of SHA-256 over the length-prefixed
    /// username and password (no collision can be steered to another
    /// tenant's id). Clients share one connection pool.
    fn registry_for(&self, basic: Option<Basic>) -> (u64, Arc<Registry>) {
        let id = match &basic {
            None => 0,
            Some(b) => credential_id(&b.username, &b.password),
        };
        let mut map = self.registries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = map.get(&id) {
            return (id, r.clone());
        }
        if map.len() >= 1024 {
            map.clear();
        }
        let credentials = match basic {
            Some(b) => Credentials::explicit(b.username, b.password),
            None => Credentials::anonymous(),
        };
        let registry = Arc::new(self.base_registry.with_credentials(credentials));
        map.insert(id, registry.clone());
        (id, registry)
    }

    /// Swaps in a new policy atomically; cached verdicts of older generations
    /// are no longer reachable (their keys carry the old generation).
    pub fn set_policy(&self, policy: TrustPolicy) -> u64 {
        let mut slot = self.policy.write().unwrap_or_else(|p| p.into_inner());
        let generation = slot.as_ref().map_or(1, |p| p.generation + 1);
        *slot = Some(Arc::new(LoadedPolicy { policy, generation }));
        generation
    }

    pub fn policy(&self) -> Option<Arc<LoadedPolicy>> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn is_ready(&self) -> bool {
        self.policy().is_some()
    }

    /// Whether `image` falls under an audit-like level (errors warn, not deny).
    pub fn is_audit(&self, image: &str) -> bool {
        let Some(loaded) = self.policy() else {
            return false;
        };
        Reference::parse(image)
            .ok()
            .and_then(|r| loaded.policy.policy_for(&r).map(|p| p.level.is_audit()))
            .unwrap_or(false)
    }

    /// Verifies one image reference under the current policy, with the default credentials.
    pub async fn check(&self, image: &str) -> ImageOutcome {
        self.check_with(image, None).await
    }

    /// Verifies one image reference; `credentials` replace the defaults (a
    /// workload's pull secrets layered over the webhook's own).
    pub async fn check_with(&self, image: &str, credentials: Option<&Credentials>) -> ImageOutcome {
        let mut out = ImageOutcome {
            image: image.to_owned(),
            policy: None,
            digest: None,
            decision: Decision::Deny("not checked".into()),
        };
        let r = match Reference::parse(image) {
            Ok(r) => r,
            Err(e) => {
                out.decision = Decision::Deny(e.to_string());
                return out;
            }
        };
        let Some(loaded) = self.policy() else {
            out.decision = Decision::Deny("no valid trust policy is loaded".into());
            return out;
        };
        let Some(policy) = loaded.policy.policy_for(&r) else {
            out.decision = Decision::Deny(format!(
                "no trust policy scope matches {} (add it to a policy's registryScopes, or use \"*\")",
                r.repo_name()
            ));
            return out;
        };
        out.policy = Some(policy.name.clone());
        let audit = policy.level.is_audit();
        if policy.level.skip {
            out.decision = Decision::Allow;
            return out;
        }
        let basic = credentials
            .unwrap_or(&self.base.credentials)
            .for_host(r.registry());
        let (cred_id, registry) = self.registry_for(basic);
        let (digest, size) = match self.resolve(&registry, cred_id, &r).await {
            Ok(d) => d,
            Err(e) => {
                out.decision = when_unverifiable(audit, format!("cannot resolve the image: {e}"));
                return out;
            }
        };
        out.digest = Some(digest.clone());
        let key = (r.repo_name(), digest.clone(), loaded.generation, cred_id);
        let subject = Subject { digest, size };
        let by_digest = r.by_digest(subject.digest.clone());
        let (verified, lookup) = self
            .verdicts
            .get_or_compute(
                key,
                || async {
                    let verdict = match crate::verify::remote::discover(
                        &registry,
                        &by_digest,
                        &subject.digest,
                    )
                    .await
                    {
                        Ok(found) => {
                            verify_off_workers(loaded.clone(), by_digest.clone(), found, &subject)
                                .await
                        }
                        Err(e) => Err(format!("cannot fetch signatures: {e}")),
                    };
                    let valid_until = verdict.as_ref().ok().and_then(|v| v.valid_until());
                    let transient = verdict.is_err();
                    let decision = match verdict {
                        Err(e) => when_unverifiable(audit, e),
                        Ok(v) => decision::for_verdict(&policy.level, &v),
                    };
                    if let Some(o) = &self.observer {
                        o.verification(decision.label());
                    }
                    Verified {
                        decision,
                        valid_until,
                        transient,
                    }
                },
                |v| match v.decision {
                    Decision::Allow => match v.valid_until {
                        Some(t) => {
                            let left = (t - crate::time::now()).max(0) as u64;
                            self.ttls.verified.min(Duration::from_secs(left))
                        }
                        None => self.ttls.verified,
                    },
                    _ if v.transient => self.ttls.failed.min(TRANSIENT_TTL),
                    _ => self.ttls.failed,
                },
            )
            .await;
        self.count("verdict", lookup);
        out.decision = verified.decision;
        out
    }

    /// Tag → (digest, size); a digest reference needs no request.
    async fn resolve(
        &self,
        registry: &Registry,
        cred_id: u64,
        r: &Reference,
    ) -> Result<(Digest, Option<u64>), RegistryError> {
        if let Some(d) = r.digest() {
            return Ok((d.clone(), None));
        }
        let (res, lookup) = self
            .tags
            .get_or_compute(
                (cred_id, r.to_string()),
                || async {
                    registry
                        .get_manifest(r)
                        .await
                        .map(|m| (m.digest, m.bytes.len() as u64))
                },
                |res| {
                    if res.is_ok() {
                        self.ttls.tag
                    } else {
                        self.ttls.failed.min(Duration::from_secs(5))
                    }
                },
            )
            .await;
        self.count("tag", lookup);
        res.map(|(d, s)| (d, Some(s)))
    }

    fn count(&self, cache: &'static str, lookup: Lookup) {
        if let Some(o) = &self.observer {
            o.cache_lookup(cache, lookup == Lookup::Hit);
        }
    }

    pub fn cached_verdicts(&self) -> usize {
        self.verdicts.len()
    }
}

/// A non-zero id for a credential set (see `Engine::registry_for`).
fn credential_id(username: &str, password: &str) -> u64 {
    let mut bytes = Vec::with_capacity(16 + username.len() + password.len());
    for part in [username, password] {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_ref()[..8]);
    u64::from_be_bytes(first) | 1
}

/// Verifies discovered signatures on the blocking pool, at most as many at a
/// time as there are cores, so that a costly image never occupies the async
/// workers (health checks and other reviews go on) and the caller's deadline
/// can abandon the wait. The work itself is bounded per image
/// ([`crate::verify::remote::MAX_IMAGE_SIGNATURES`]).
async fn verify_off_workers(
    loaded: Arc<LoadedPolicy>,
    r: Reference,
    found: crate::verify::remote::Discovered,
    subject: &Subject,
) -> Result<crate::verify::remote::RemoteVerdict, String> {
    static SLOTS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(tokio::sync::Semaphore::new(cores))
    });
    // The permit moves into the task: an abandoned wait does not free a core
    // that is still busy.
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| "verification is shutting down".to_owned())?;
    let subject = subject.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let policy = loaded
            .policy
            .policy_for(&r)
            .ok_or("the trust policy changed during verification")?;
        let req = Requirements {
            trust: &policy.trust,
            identities: &policy.identities,
            now: crate::time::now(),
        };
        Ok(crate::verify::remote::verify_found(found, &subject, &req))
    })
    .await
    .map_err(|e| format!("verification failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_ids_separate_credentials_and_boundaries() {
        let a = credential_id("alice", "secret");
        assert_eq!(a, credential_id("alice", "secret"));
        assert_ne!(a, 0, "0 is reserved for no credentials");
        assert_ne!(a, credential_id("alice", "secret2"));
        assert_ne!(a, credential_id("bob", "secret"));
        // Where the username ends matters.
        assert_ne!(credential_id("ab", "c"), credential_id("a", "bc"));
    }

    #[test]
    fn per_credential_clients_share_one_base() {
        let engine = Engine::new(RegistryOptions::default(), CacheTtls::default(), None).unwrap();
        let (none, _) = engine.registry_for(None);
        assert_eq!(none, 0);
        let basic = |u: &str| Basic {
            username: u.into(),
            password: "p".into(),
        };
        let (a1, r1) = engine.registry_for(Some(basic("a")));
        let (a2, r2) = engine.registry_for(Some(basic("a")));
        let (b, _) = engine.registry_for(Some(basic("b")));
        assert_eq!(a1, a2);
        assert!(Arc::ptr_eq(&r1, &r2), "one client per credential set");
        assert_ne!(a1, b);
    }
}
