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

use super::decision::{self, Unverifiable, when_unverifiable};
use crate::cache::{Lookup, TtlCache};
use crate::oci::client::auth::Basic;
use crate::oci::client::{
    ClientSetupError, Credentials, Registry, RegistryError, RegistryOptions, RegistryRead,
};
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

/// What the verdict cache may hold in all (entries are weighed by their size).
const VERDICT_CACHE_BYTES: u64 = 48 << 20;

/// The longest a verdict from a registry error is kept.
const TRANSIENT_TTL: Duration = Duration::from_secs(2);

/// Where the engine gets a registry client for a set of credentials: the
/// seam that lets tests run every branch of the engine against an in-memory
/// registry.
pub trait RegistrySource: Send + Sync {
    type Client: RegistryRead + 'static;

    /// A client presenting exactly `basic` (or nothing), and the id of that
    /// credential set (0 for none), which every cache key carries.
    fn client(&self, basic: Option<Basic>) -> (u64, Arc<Self::Client>);
}

/// Real registry clients, one per credential set, sharing one connection pool.
pub struct ClientPool {
    /// The client all per-credential clients share their connections with.
    base: Registry,
    clients: std::sync::Mutex<std::collections::HashMap<u64, Arc<Registry>>>,
}

impl ClientPool {
    /// Fails on options that cannot make a client (a bad CA file).
    pub fn new(options: RegistryOptions) -> Result<Self, ClientSetupError> {
        Ok(ClientPool {
            base: Registry::new(options)?,
            clients: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }
}

impl RegistrySource for ClientPool {
    type Client = Registry;

    /// The id is 64 bits of SHA-256 over the length-prefixed username and
    /// password (no collision can be steered to another tenant's id). At most
    /// 1,024 clients are kept.
    fn client(&self, basic: Option<Basic>) -> (u64, Arc<Registry>) {
        let id = match &basic {
            None => 0,
            Some(b) => credential_id(&b.username, &b.password),
        };
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
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
        let registry = Arc::new(self.base.with_credentials(credentials));
        map.insert(id, registry.clone());
        (id, registry)
    }
}

/// Image verification under a trust policy, with caches.
///
/// Registry access depends on credentials, so every cache key carries the id
/// of the credentials used for the image's registry (none, the webhook's own,
/// or a workload's pull secret): a verdict or tag answer obtained with one
/// tenant's credentials is never served to a request that did not present
/// the same credentials.
pub struct Engine<S: RegistrySource = ClientPool> {
    registries: S,
    /// The default credentials (the webhook's own Docker config).
    credentials: Credentials,
    policy: RwLock<Option<Arc<LoadedPolicy>>>,
    verdicts: TtlCache<VerdictKey, Verified>,
    tags: TtlCache<(u64, String), Result<(Digest, u64), RegistryError>>,
    ttls: CacheTtls,
    observer: Option<Arc<dyn EngineObserver>>,
}

impl Engine<ClientPool> {
    /// `base` says how to reach registries; its credentials are the default ones.
    pub fn new(
        base: RegistryOptions,
        ttls: CacheTtls,
        observer: Option<Arc<dyn EngineObserver>>,
    ) -> Result<Self, ClientSetupError> {
        let credentials = base.credentials.clone();
        Ok(Engine::with_source(
            ClientPool::new(base)?,
            credentials,
            ttls,
            observer,
        ))
    }
}

impl<S: RegistrySource> Engine<S> {
    /// An engine reading registries through `registries`, presenting
    /// `credentials` unless a request brings others.
    pub fn with_source(
        registries: S,
        credentials: Credentials,
        ttls: CacheTtls,
        observer: Option<Arc<dyn EngineObserver>>,
    ) -> Self {
        Engine {
            registries,
            credentials,
            policy: RwLock::new(None),
            // Bounded by bytes too: a decision's message can be 2 KiB.
            verdicts: TtlCache::weighted(200_000, VERDICT_CACHE_BYTES, |v: &Verified| {
                128 + v.decision.message_len() as u64
            }),
            tags: TtlCache::new(50_000),
            ttls,
            observer,
        }
    }

    /// The default credentials (the webhook's own Docker config).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
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
            .unwrap_or(&self.credentials)
            .for_host(r.registry());
        let (cred_id, registry) = self.registries.client(basic);
        let (digest, size) = match self.resolve(&registry, cred_id, &r).await {
            Ok(d) => d,
            Err(e) => {
                out.decision = when_unverifiable(audit, Unverifiable::Resolve(e));
                return out;
            }
        };
        out.digest = Some(digest.clone());
        let key = (r.repo_name(), digest.clone(), loaded.generation, cred_id);
        let subject = Subject {
            digest,
            size,
            name: Some(r.repo_name()),
        };
        let by_digest = r.by_digest(subject.digest.clone());
        let (verified, lookup) = self
            .verdicts
            .get_or_compute(
                key,
                || self.verify_subject(&*registry, &loaded, &by_digest, &subject),
                |v| self.verdict_ttl(v),
            )
            .await;
        self.count("verdict", lookup);
        out.decision = verified.decision;
        out
    }

    /// Discovers and verifies the signatures of `subject` (named `by_digest`)
    /// under `loaded`: one computation of the verdict cache.
    async fn verify_subject(
        &self,
        registry: &S::Client,
        loaded: &Arc<LoadedPolicy>,
        by_digest: &Reference,
        subject: &Subject,
    ) -> Verified {
        // Discovered signatures are held until verified: at most
        // DISCOVERIES images hold them at once, process-wide.
        let _slot = discovery_slot().await;
        let verdict =
            match crate::verify::remote::discover(registry, by_digest, &subject.digest).await {
                Ok(found) => {
                    verify_off_workers(loaded.clone(), by_digest.clone(), found, subject).await
                }
                Err(e) => Err(Unverifiable::Discover(e)),
            };
        let valid_until = verdict.as_ref().ok().and_then(|v| v.valid_until());
        let transient = verdict.is_err();
        let decision = match (loaded.policy.policy_for(by_digest), verdict) {
            (None, _) => Decision::Deny(Unverifiable::PolicyChanged.to_string()),
            (Some(policy), Err(e)) => when_unverifiable(policy.level.is_audit(), e),
            (Some(policy), Ok(v)) => decision::for_verdict(&policy.level, &v),
        };
        if let Some(o) = &self.observer {
            o.verification(decision.label());
        }
        Verified {
            decision,
            valid_until,
            transient,
        }
    }

    /// How long a verdict is kept: a pass no longer than its signatures and
    /// certificates stay valid; a transient failure only briefly.
    fn verdict_ttl(&self, v: &Verified) -> Duration {
        match v.decision {
            Decision::Allow => match v.valid_until {
                Some(t) => {
                    let left = (t - crate::time::now()).max(0) as u64;
                    self.ttls.verified.min(Duration::from_secs(left))
                }
                None => self.ttls.verified,
            },
            _ if v.transient => self.ttls.failed.min(TRANSIENT_TTL),
            _ => self.ttls.failed,
        }
    }

    /// Tag → (digest, size); a digest reference needs no request.
    async fn resolve(
        &self,
        registry: &S::Client,
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
                        .manifest(r, crate::oci::client::MAX_MANIFEST)
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

/// Images whose signatures are being fetched and verified at once,
/// process-wide. Each holds at most
/// [`crate::verify::remote::MAX_IMAGE_SIGNATURE_BYTES`], so together with
/// the registry client's read reservations this bounds the memory hostile
/// registries can make the webhook hold, however many reviews name them.
const DISCOVERIES: usize = 16;

async fn discovery_slot() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(DISCOVERIES);
    SLOTS.acquire().await.ok()
}

/// A non-zero id for a credential set (see [`ClientPool`]).
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
) -> Result<crate::verify::remote::RemoteVerdict, Unverifiable> {
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
        .map_err(|_| Unverifiable::ShuttingDown)?;
    let subject = subject.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let policy = loaded
            .policy
            .policy_for(&r)
            .ok_or(Unverifiable::PolicyChanged)?;
        let req = Requirements {
            trust: &policy.trust,
            identities: &policy.identities,
            now: crate::time::now(),
        };
        Ok(crate::verify::remote::verify_found(found, &subject, &req))
    })
    .await
    .map_err(|e| Unverifiable::Crashed(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::artifact::ArtifactManifest;
    use crate::oci::client::{Descriptor, Manifest, Referrers};
    use crate::policy::document::Stores;
    use crate::signature::cert::Certificate;
    use crate::signature::crypto::{Algorithm, SigningKey};
    use crate::signature::envelope::{Envelope, SignedContent, Signer};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
        let pool = ClientPool::new(RegistryOptions::default()).unwrap();
        let (none, _) = pool.client(None);
        assert_eq!(none, 0);
        let basic = |u: &str| Basic {
            username: u.into(),
            password: "p".into(),
        };
        let (a1, r1) = pool.client(Some(basic("a")));
        let (a2, r2) = pool.client(Some(basic("a")));
        let (b, _) = pool.client(Some(basic("b")));
        assert_eq!(a1, a2);
        assert!(Arc::ptr_eq(&r1, &r2), "one client per credential set");
        assert_ne!(a1, b);
    }

    /// An in-memory registry: manifests by tag or digest, referrers by
    /// subject digest; every read counted; `down` makes every read fail.
    #[derive(Default)]
    struct Memory {
        manifests: Mutex<HashMap<String, Vec<u8>>>,
        referrers: Mutex<HashMap<String, Vec<Descriptor>>>,
        reads: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
    }

    impl Memory {
        fn put_manifest(&self, reference: &str, bytes: &[u8]) -> Digest {
            let d = Digest::of(bytes);
            let mut m = self.manifests.lock().unwrap();
            m.insert(reference.to_owned(), bytes.to_vec());
            m.insert(d.to_string(), bytes.to_vec());
            d
        }

        /// Links `signature` (.nv2 bytes) to `subject`, embedded as `nv2 link` does.
        fn link(&self, subject: &Digest, size: u64, signature: &[u8]) {
            let mut artifact = ArtifactManifest::for_signature(signature, "2026-01-01T00:00:00Z");
            artifact.subject = Some(Descriptor {
                media_type: crate::oci::client::OCI_MANIFEST.into(),
                digest: subject.to_string(),
                size,
                artifact_type: None,
                annotations: None,
                data: None,
            });
            let bytes = artifact.to_bytes();
            self.referrers
                .lock()
                .unwrap()
                .entry(subject.to_string())
                .or_default()
                .push(artifact.index_entry(&bytes));
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }

        fn check_up(&self, what: &str) -> Result<(), RegistryError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(RegistryError::Status {
                    what: what.into(),
                    status: 503,
                    message: String::new(),
                });
            }
            Ok(())
        }
    }

    impl RegistryRead for Memory {
        async fn manifest(&self, r: &Reference, _limit: u64) -> Result<Manifest, RegistryError> {
            self.check_up("manifest")?;
            let key = match r.digest() {
                Some(d) => d.to_string(),
                None => r.to_string(),
            };
            let bytes = self.manifests.lock().unwrap().get(&key).cloned();
            let bytes = bytes.ok_or(RegistryError::NotFound { what: key })?;
            Ok(Manifest {
                digest: Digest::of(&bytes),
                media_type: crate::oci::client::OCI_MANIFEST.into(),
                bytes,
            })
        }

        async fn referrers(
            &self,
            _r: &Reference,
            subject: &Digest,
            artifact_type: &str,
        ) -> Result<Referrers, RegistryError> {
            self.check_up("referrers")?;
            let list = self
                .referrers
                .lock()
                .unwrap()
                .get(subject.as_str())
                .cloned()
                .unwrap_or_default();
            Ok(crate::oci::client::select_referrers(list, artifact_type))
        }

        async fn blob(
            &self,
            _r: &Reference,
            desc: &Descriptor,
            _limit: u64,
        ) -> Result<Vec<u8>, RegistryError> {
            self.check_up("blob")?;
            match desc.embedded() {
                Some(embedded) => embedded.map_err(|e| RegistryError::Invalid {
                    what: "blob".into(),
                    reason: e.to_string(),
                }),
                None => Err(RegistryError::Invalid {
                    what: "blob".into(),
                    reason: "not embedded".into(),
                }),
            }
        }
    }

    /// One in-memory registry whatever the credentials; ids as the real pool's.
    struct MemorySource(Arc<Memory>);

    impl RegistrySource for MemorySource {
        type Client = Memory;
        fn client(&self, basic: Option<Basic>) -> (u64, Arc<Memory>) {
            let id = basic.map_or(0, |b| credential_id(&b.username, &b.password));
            (id, self.0.clone())
        }
    }

    const REG: &str = "registry.example.com";

    struct World {
        memory: Arc<Memory>,
        engine: Engine<MemorySource>,
        cert: Certificate,
        key_pem: String,
    }

    fn world() -> World {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec![REG.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let memory = Arc::new(Memory::default());
        let engine = Engine::with_source(
            MemorySource(memory.clone()),
            Credentials::anonymous(),
            CacheTtls::default(),
            None,
        );
        World {
            memory,
            engine,
            cert: Certificate::from_der(cert.der().to_vec()).unwrap(),
            key_pem: key.serialize_pem(),
        }
    }

    impl World {
        /// Policies: `signed` strict, `audited` audit, `skipped` skip; no `*`.
        fn set_policy(&self) {
            let doc = format!(
                r#"{{"version":"1.0","trustPolicies":[
                {{"name":"strict","registryScopes":["{REG}/signed","{REG}/unsigned"],"signatureVerification":{{"level":"strict"}},"trustStores":["ca:s"],"trustedIdentities":["*"]}},
                {{"name":"audit","registryScopes":["{REG}/audited"],"signatureVerification":{{"level":"audit"}},"trustStores":["ca:s"],"trustedIdentities":["*"]}},
                {{"name":"skip","registryScopes":["{REG}/skipped"],"signatureVerification":{{"level":"skip"}}}}]}}"#
            );
            let stores = Stores::from([("ca:s".to_owned(), vec![self.cert.clone()])]);
            self.engine
                .set_policy(TrustPolicy::parse(doc.as_bytes(), &stores).unwrap());
        }

        /// Pushes `repo:v1` (distinct content per repo) and, with `sign`, links a signature.
        fn image(&self, repo: &str, sign: bool, tamper: bool) -> Digest {
            let manifest = format!(r#"{{"schemaVersion":2,"repo":"{repo}"}}"#);
            let digest = self
                .memory
                .put_manifest(&format!("{REG}/{repo}:v1"), manifest.as_bytes());
            if sign {
                let content = SignedContent {
                    digest: if tamper {
                        Digest::of(b"other").to_string()
                    } else {
                        digest.to_string()
                    },
                    size: manifest.len() as u64,
                    references: vec![],
                    exp: 0,
                    nbf: 0,
                    iat: 1,
                };
                let signer = Signer::with_key_id(
                    SigningKey::from_pem(self.key_pem.as_bytes()).unwrap(),
                    Algorithm::ES256,
                    self.cert.public_key().spki_der(),
                );
                let env = Envelope::sign(&content, &signer).unwrap();
                self.memory
                    .link(&digest, manifest.len() as u64, &env.to_bytes());
            }
            digest
        }

        async fn check(&self, repo: &str) -> ImageOutcome {
            self.engine.check(&format!("{REG}/{repo}:v1")).await
        }
    }

    fn denied_for(o: &ImageOutcome, needle: &str) -> bool {
        matches!(&o.decision, Decision::Deny(m) if m.contains(needle))
    }

    #[tokio::test]
    async fn without_a_policy_or_a_scope_nothing_is_admitted() {
        let w = world();
        w.image("signed", true, false);
        let o = w.check("signed").await;
        assert!(denied_for(&o, "no valid trust policy"), "{o:?}");
        w.set_policy();
        let o = w.check("elsewhere").await;
        assert!(denied_for(&o, "no trust policy scope matches"), "{o:?}");
        let o = w.engine.check("Not A Reference").await;
        assert!(matches!(o.decision, Decision::Deny(_)), "{o:?}");
        assert_eq!(
            w.memory.reads(),
            0,
            "no registry read without a policy that applies"
        );
    }

    #[tokio::test]
    async fn skip_admits_without_reading_the_registry() {
        let w = world();
        w.set_policy();
        let o = w.check("skipped").await;
        assert_eq!(o.decision, Decision::Allow);
        assert_eq!(o.digest, None, "nothing resolved, so nothing to pin");
        assert_eq!(w.memory.reads(), 0);
    }

    #[tokio::test]
    async fn a_signed_image_passes_once_and_then_from_the_cache() {
        let w = world();
        w.set_policy();
        let digest = w.image("signed", true, false);
        let o = w.check("signed").await;
        assert_eq!(o.decision, Decision::Allow, "{o:?}");
        assert_eq!(o.digest.as_ref(), Some(&digest));
        let reads = w.memory.reads();
        let o = w.check("signed").await;
        assert_eq!(o.decision, Decision::Allow);
        assert_eq!(
            w.memory.reads(),
            reads,
            "tag and verdict served from the caches"
        );
        // A new policy generation makes the old verdict unreachable.
        w.set_policy();
        w.check("signed").await;
        assert!(w.memory.reads() > reads);
    }

    #[tokio::test]
    async fn levels_decide_unsigned_tampered_and_unreachable_images() {
        let w = world();
        w.set_policy();
        w.image("unsigned", false, false);
        let o = w.check("unsigned").await;
        assert!(denied_for(&o, "no signatures are linked"), "{o:?}");
        w.image("audited", false, false);
        let o = w.check("audited").await;
        assert!(matches!(o.decision, Decision::Warn(_)), "{o:?}");
        // Audit never admits tampering.
        let w = world();
        w.set_policy();
        w.image("audited", true, true);
        let o = w.check("audited").await;
        assert!(denied_for(&o, "the signature is for"), "{o:?}");
        // A registry outage denies under strict, warns under audit.
        let w = world();
        w.set_policy();
        w.image("signed", true, false);
        w.image("audited", true, false);
        w.memory.down.store(true, Ordering::SeqCst);
        let o = w.check("signed").await;
        assert!(denied_for(&o, "cannot resolve the image"), "{o:?}");
        let o = w.check("audited").await;
        assert!(
            matches!(&o.decision, Decision::Warn(m) if m.contains("503")),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn a_verdict_is_never_lent_to_other_credentials() {
        let w = world();
        w.set_policy();
        w.image("signed", true, false);
        let tenant = |u: &str| {
            Credentials::anonymous().layered_under(vec![
                crate::oci::client::DockerConfig::from_json(
                    format!(r#"{{"auths":{{"{REG}":{{"username":"{u}","password":"p"}}}}}}"#)
                        .as_bytes(),
                )
                .unwrap(),
            ])
        };
        let a = tenant("a");
        let o = w
            .engine
            .check_with(&format!("{REG}/signed:v1"), Some(&a))
            .await;
        assert_eq!(o.decision, Decision::Allow);
        let reads = w.memory.reads();
        w.engine
            .check_with(&format!("{REG}/signed:v1"), Some(&a))
            .await;
        assert_eq!(w.memory.reads(), reads, "same credentials: cached");
        let b = tenant("b");
        w.engine
            .check_with(&format!("{REG}/signed:v1"), Some(&b))
            .await;
        assert!(
            w.memory.reads() > reads,
            "other credentials: looked up again"
        );
    }
}
