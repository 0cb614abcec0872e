//! The one verification pipeline: a signature file, checked against a target
//! descriptor, trust material and the time. The CLI and the webhook both call
//! [`verify_envelope`]; the verdict says, per signature, why it passed or not.
//!
//! Checks fall in Notation's three groups so that a policy level can decide
//! which are enforced: integrity (the bytes and the math), authenticity (who
//! signed, and whether they may), expiry (the signature's own time window).

use std::fmt;

use crate::oci::digest::{Digest, shorten};
use crate::oci::reference::Reference;
use crate::signature::cert::Certificate;
use crate::signature::crypto::Algorithm;
use crate::signature::envelope::{Envelope, SignatureEntry, decode_base64};
use crate::signature::trust::{ChainFacts, TrustMaterial};

/// At most this many signatures of one file are checked (co-signatures are a
/// handful; thousands in a 1 MiB file would only be a way to burn CPU).
pub(crate) const MAX_SIGNATURES: usize = 32;
/// At most this many certificates in one `x5c` chain.
pub(crate) const MAX_CHAIN: usize = 10;

/// The longest reason kept for one failure, in bytes.
pub(crate) const MAX_REASON: usize = 400;

/// `reason`, cut to [`MAX_REASON`] bytes: text from signatures, certificates
/// and registries reaches messages, logs and caches, and must not be able to
/// grow them.
pub(crate) fn bounded_reason(reason: String) -> String {
    if reason.len() <= MAX_REASON {
        return reason;
    }
    crate::oci::digest::shorten_to(&reason, MAX_REASON)
}

/// What a signature must sign: the manifest's digest, its size when known,
/// and the image's name (canonical `registry/repository`) when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub digest: Digest,
    pub size: Option<u64>,
    /// When set, a signature that lists `references` must name this
    /// repository among them: a signature made for one image name cannot
    /// admit another.
    pub name: Option<String>,
}

/// The group a check belongs to; a policy level enforces some, logs others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    Integrity,
    Authenticity,
    Expiry,
}

/// One failed check and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub check: Check,
    pub reason: String,
}

impl Failure {
    /// A failure; its reason is cut to [`MAX_REASON`] bytes (reasons quote
    /// certificates and files an attacker wrote).
    pub(crate) fn new(check: Check, reason: impl Into<String>) -> Self {
        Failure {
            check,
            reason: bounded_reason(reason.into()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Which signers' certificates a policy accepts (Notation `trustedIdentities`).
#[derive(Clone, Debug, Default)]
pub enum Identities {
    /// `*`: any signer the trust material trusts.
    #[default]
    Any,
    /// `x509.subject: …` entries: the signer's subject must satisfy one of
    /// them, attribute by attribute (see [`crate::signature::dn::Name::is_satisfied_by`]).
    Subjects(Vec<crate::signature::dn::Name>),
}

impl Identities {
    fn accepts(&self, cert: &Certificate) -> bool {
        match self {
            Identities::Any => true,
            Identities::Subjects(wanted) => wanted
                .iter()
                .any(|w| w.is_satisfied_by(cert.subject_name())),
        }
    }
}

/// What a signature is checked against.
pub struct Requirements<'a> {
    pub trust: &'a TrustMaterial,
    pub identities: &'a Identities,
    /// Unix seconds.
    pub now: i64,
}

/// The outcome for one signature of the file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SignatureReport {
    /// 1-based position in the file.
    pub index: usize,
    pub alg: String,
    /// The signer's certificate subject, when a key was found.
    pub signer: Option<String>,
    pub key_id: Option<String>,
    /// When the trusted signing certificate expires (Unix seconds).
    pub cert_not_after: Option<i64>,
    pub failures: Vec<Failure>,
}

impl SignatureReport {
    /// A short label such as `signature 1 (RS256, CN=registry.example.com)`.
    pub fn label(&self) -> String {
        let who = self
            .signer
            .clone()
            .or_else(|| self.key_id.clone().map(|k| format!("kid {k}")))
            .unwrap_or_else(|| "unknown signer".into());
        format!("signature {} ({}, {})", self.index, shorten(&self.alg), who)
    }
}

impl SignatureReport {
    fn unchecked(index: usize, entry: &SignatureEntry) -> Self {
        SignatureReport {
            index,
            alg: entry.alg.clone(),
            signer: None,
            key_id: entry.kid.clone(),
            cert_not_after: None,
            failures: vec![Failure::new(
                Check::Authenticity,
                "not checked: the image's verification budget is spent (too many signatures are linked to it)",
            )],
        }
    }
}

/// The outcome for a signature file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub digest: Digest,
    /// Failures of the signed content itself, shared by every signature.
    pub content_failures: Vec<Failure>,
    pub signatures: Vec<SignatureReport>,
    /// The signed content's `exp`, when set (Unix seconds).
    pub exp: Option<i64>,
}

impl Verdict {
    /// Until when a pass stays a pass: the content's `exp`, and the expiry of
    /// the latest-expiring certificate among the fully valid signatures.
    /// Caches must not keep a verdict beyond it.
    pub fn valid_until(&self) -> Option<i64> {
        let certs = self
            .signatures
            .iter()
            .filter(|s| s.failures.is_empty())
            .filter_map(|s| s.cert_not_after)
            .max();
        match (self.exp, certs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    /// Whether the file verifies when the checks in `enforced` are enforced:
    /// no enforced content failure, and at least one signature without an
    /// enforced failure.
    pub fn passes(&self, enforced: &[Check]) -> bool {
        let enforced_fail = |f: &Failure| enforced.contains(&f.check);
        !self.content_failures.iter().any(enforced_fail)
            && self
                .signatures
                .iter()
                .any(|s| !s.failures.iter().any(enforced_fail))
    }

    /// Strict: every check enforced.
    pub fn is_verified(&self) -> bool {
        self.passes(&[Check::Integrity, Check::Authenticity, Check::Expiry])
    }

    /// One line per reason: content failures, then each failing signature's first failure.
    pub fn reasons(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .content_failures
            .iter()
            .map(|f| f.reason.clone())
            .collect();
        for s in &self.signatures {
            if let Some(f) = s.failures.first() {
                out.push(format!("{}: {}", s.label(), f.reason));
            }
        }
        out
    }
}

/// Verifies every signature of `envelope` for `subject` under `req`.
pub fn verify_envelope(envelope: &Envelope, subject: &Subject, req: &Requirements<'_>) -> Verdict {
    let mut budget = MAX_SIGNATURES;
    verify_envelope_within(envelope, subject, req, &mut budget)
}

/// Verifies an envelope of any supported format (see
/// [`crate::signature::format`]): the one entry point discovery uses.
pub(crate) fn verify_any_within(
    envelope: &crate::signature::format::SignatureEnvelope,
    subject: &Subject,
    req: &Requirements<'_>,
    budget: &mut usize,
) -> Verdict {
    match envelope {
        crate::signature::format::SignatureEnvelope::Nv2(e) => {
            verify_envelope_within(e, subject, req, budget)
        }
    }
}

/// As [`verify_envelope`], checking at most `*budget` signatures and taking
/// what it checks from it: signatures beyond the budget fail unchecked, so
/// the work one image can cause is bounded across all its signature files.
// Over 60 lines: the checks of one signature in the order the specification gives.
pub(crate) fn verify_envelope_within(
    envelope: &Envelope,
    subject: &Subject,
    req: &Requirements<'_>,
    budget: &mut usize,
) -> Verdict {
    let signed = envelope.signed();
    let mut content_failures = Vec::new();
    if *envelope.digest() != subject.digest {
        content_failures.push(Failure::new(
            Check::Integrity,
            format!(
                "the signature is for {}, but the target is {}",
                envelope.digest(),
                subject.digest
            ),
        ));
    }
    if let Some(size) = subject.size
        && signed.size != size
    {
        content_failures.push(Failure::new(
            Check::Integrity,
            format!(
                "the signature is for a {}-byte manifest, but the target is {size} bytes",
                signed.size
            ),
        ));
    }
    if signed.nbf != 0 && req.now < signed.nbf {
        content_failures.push(Failure::new(
            Check::Expiry,
            format!(
                "the signature is not valid before {} (nbf)",
                crate::time::rfc3339(signed.nbf)
            ),
        ));
    }
    if signed.exp != 0 && req.now >= signed.exp {
        content_failures.push(Failure::new(
            Check::Expiry,
            format!(
                "the signature expired at {} (exp)",
                crate::time::rfc3339(signed.exp)
            ),
        ));
    }
    let signatures = envelope
        .signatures()
        .iter()
        .take(MAX_SIGNATURES)
        .enumerate()
        .map(|(i, entry)| {
            if *budget == 0 {
                return SignatureReport::unchecked(i + 1, entry);
            }
            *budget -= 1;
            verify_entry(i + 1, entry, envelope, subject, req)
        })
        .collect();
    if envelope.signatures().len() > MAX_SIGNATURES {
        content_failures.push(Failure::new(
            Check::Integrity,
            format!(
                "the file holds {} signatures; at most {MAX_SIGNATURES} are accepted",
                envelope.signatures().len()
            ),
        ));
    }
    Verdict {
        digest: subject.digest.clone(),
        content_failures,
        signatures,
        exp: (signed.exp != 0).then_some(signed.exp),
    }
}

/// The key a signature names: its `x5c` chain, or a pinned certificate by `kid`.
pub(crate) enum SignerKey<'a> {
    Chain(Vec<Certificate>),
    Pinned(&'a Certificate),
}

impl SignerKey<'_> {
    fn leaf(&self) -> &Certificate {
        match self {
            SignerKey::Chain(chain) => &chain[0],
            SignerKey::Pinned(cert) => cert,
        }
    }
}

fn verify_entry(
    index: usize,
    entry: &SignatureEntry,
    envelope: &Envelope,
    subject: &Subject,
    req: &Requirements<'_>,
) -> SignatureReport {
    let mut report = SignatureReport {
        index,
        alg: entry.alg.clone(),
        signer: None,
        key_id: entry.kid.clone(),
        cert_not_after: None,
        failures: Vec::new(),
    };
    let integrity = |reason: String| vec![Failure::new(Check::Integrity, reason)];
    if entry.typ != "x509" {
        report.failures = integrity(format!(
            "unknown signature type {:?} (expected \"x509\")",
            shorten(&entry.typ)
        ));
        return report;
    }
    let Some(alg) = Algorithm::parse(&entry.alg) else {
        report.failures = integrity(format!("unsupported algorithm {:?}", shorten(&entry.alg)));
        return report;
    };
    let sig = match decode_base64(&entry.sig) {
        Ok(sig) => sig,
        Err(e) => {
            report.failures = integrity(format!("\"sig\" is not valid base64: {e}"));
            return report;
        }
    };
    let key = match signer_key(entry, req.trust) {
        Ok(key) => key,
        Err(reason) => {
            report.failures = integrity(reason.to_string());
            return report;
        }
    };
    let leaf = key.leaf();
    report.signer = Some(leaf.subject().to_owned());
    report.key_id = Some(leaf.key_id().to_owned());
    if let Err(e) = leaf.public_key().verify(alg, envelope.signed_bytes(), &sig) {
        report.failures = integrity(e.to_string());
        return report;
    }
    let (failures, trusted, not_after) = authenticity(&key, envelope, subject, req);
    report.signer = Some(trusted.subject().to_owned());
    report.cert_not_after = Some(not_after);
    report.failures = failures;
    report
}

/// Why no key can be taken from a signature to verify it with.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
enum SignerKeyError {
    #[error("\"x5c\" is empty")]
    EmptyChain,
    #[error("\"x5c\" holds {0} certificates; at most {MAX_CHAIN} are accepted")]
    LongChain(usize),
    #[error("{0}")]
    X5c(#[from] crate::signature::envelope::X5cError),
    #[error("kid {} does not match the x5c leaf's key ({leaf})", shorten(.kid))]
    KidMismatch { kid: String, leaf: String },
    #[error("signature has neither \"kid\" nor \"x5c\"")]
    NoKey,
    #[error("kid {} matches no trusted certificate", shorten(.0))]
    UnknownKid(String),
}

fn signer_key<'a>(
    entry: &SignatureEntry,
    trust: &'a TrustMaterial,
) -> Result<SignerKey<'a>, SignerKeyError> {
    if let Some(x5c) = &entry.x5c {
        if x5c.is_empty() {
            return Err(SignerKeyError::EmptyChain);
        }
        if x5c.len() > MAX_CHAIN {
            return Err(SignerKeyError::LongChain(x5c.len()));
        }
        let mut chain = Vec::with_capacity(x5c.len());
        for (index, b64) in x5c.iter().enumerate() {
            chain.push(crate::signature::envelope::x5c_certificate(index, b64)?);
        }
        if let Some(kid) = &entry.kid
            && kid != chain[0].key_id()
        {
            return Err(SignerKeyError::KidMismatch {
                kid: kid.clone(),
                leaf: chain[0].key_id().to_owned(),
            });
        }
        return Ok(SignerKey::Chain(chain));
    }
    let kid = entry.kid.as_deref().ok_or(SignerKeyError::NoKey)?;
    trust
        .pinned_by_kid(kid)
        .map(SignerKey::Pinned)
        .ok_or_else(|| SignerKeyError::UnknownKid(kid.to_owned()))
}

/// What trusting a signer found: the failures, the certificate whose facts
/// were used, whether its CN may stand for a name, and until when the trust
/// lasts (the earliest expiry of the certificates it rests on).
pub(crate) struct SignerTrust<'a> {
    pub failures: Vec<Failure>,
    pub leaf: &'a Certificate,
    pub cn_fallback: bool,
    pub not_after: i64,
}

/// Whether the signer is trusted, for every envelope format: the facts
/// (validity, key usage, subject, names) come only from a trusted
/// certificate — the pinned one when the key is pinned (an `x5c` leaf with a
/// pinned key is unsigned metadata whose fields an attacker could rewrite) —
/// or the `x5c` leaf once webpki has validated its chain; then key usage and
/// the policy's identities.
pub(crate) fn signer_trust<'a>(
    key: &'a SignerKey<'a>,
    req: &'a Requirements<'_>,
) -> SignerTrust<'a> {
    let fail = |reason: String| Failure::new(Check::Authenticity, reason);
    let pinned = |cert: &'a Certificate| {
        let facts = ChainFacts {
            name_constrained: false,
            not_after: cert.not_after(),
        };
        let usable = cert
            .check_validity(req.now)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                if cert.allows_code_signing() {
                    Ok(facts)
                } else {
                    Err(format!(
                        "certificate {:?} has an extended key usage without codeSigning",
                        cert.subject()
                    ))
                }
            });
        (cert, usable)
    };
    let (leaf, trusted) = match key {
        SignerKey::Pinned(cert) => pinned(cert),
        SignerKey::Chain(chain) => match req.trust.pinned_by_key(chain[0].public_key()) {
            Some(cert) => pinned(cert),
            None => (
                &chain[0],
                req.trust
                    .verify_chain(chain, req.now)
                    .map_err(|e| e.to_string()),
            ),
        },
    };
    let mut failures = Vec::new();
    // Without a trusted path, never fall back to the CN; under name
    // constraints the CN is not a name the CA vouched for.
    let (cn_fallback, not_after) = match trusted {
        Ok(facts) => (!facts.name_constrained, facts.not_after),
        Err(reason) => {
            failures.push(fail(reason));
            (false, leaf.not_after())
        }
    };
    if !leaf.allows_digital_signature() {
        failures.push(fail(format!(
            "certificate {:?} has a key usage without digitalSignature",
            leaf.subject()
        )));
    }
    if !req.identities.accepts(leaf) {
        failures.push(fail(format!(
            "signer {:?} is not a trusted identity of the policy",
            leaf.subject()
        )));
    }
    SignerTrust {
        failures,
        leaf,
        cn_fallback,
        not_after,
    }
}

/// Authenticity checks of a `.nv2` signature: [`signer_trust`], then the
/// signed references against the image's name and the certificate's names.
fn authenticity<'a>(
    key: &'a SignerKey<'a>,
    envelope: &Envelope,
    subject: &Subject,
    req: &'a Requirements<'_>,
) -> (Vec<Failure>, &'a Certificate, i64) {
    let fail = |reason: String| Failure::new(Check::Authenticity, reason);
    let SignerTrust {
        mut failures,
        leaf,
        cn_fallback,
        not_after,
    } = signer_trust(key, req);
    let references = &envelope.signed().references;
    // A signature that says which images it is for cannot admit another.
    if let Some(name) = &subject.name
        && !references.is_empty()
        && !references
            .iter()
            .any(|r| Reference::parse(r).is_ok_and(|r| r.repo_name() == *name))
    {
        failures.push(fail(format!(
            "the signature is for {}, not for {name}",
            references
                .iter()
                .take(4)
                .map(|r| shorten(r))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for reference in references {
        let host = match Reference::parse(reference) {
            Ok(r) => r.registry().to_owned(),
            Err(e) => {
                failures.push(fail(format!(
                    "signed reference {:?} is invalid: {e}",
                    shorten(reference)
                )));
                continue;
            }
        };
        if !leaf.covers_host(&host, cn_fallback) {
            let names = leaf.names(cn_fallback);
            let covers = if names.is_empty() {
                "it has no subjectAltName, and under a name-constrained CA its CN names nothing"
                    .to_owned()
            } else {
                format!("it covers: {}", names.join(", "))
            };
            failures.push(fail(format!(
                "signed reference {:?} names registry {host}, which certificate {:?} is not valid for ({covers})",
                shorten(reference),
                leaf.subject(),
            )));
        }
    }
    (failures, leaf, not_after)
}
