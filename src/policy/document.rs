//! Notation's trust policy (`trustpolicy.json`, version 1.0) and trust-store
//! layout, compiled into what the verifier needs per registry scope.
//!
//! Levels mean what Notation's table says: integrity is enforced except under
//! `skip`; authenticity under strict and permissive (logged under audit);
//! expiry under strict (logged otherwise). `override` may move authenticity
//! and expiry between enforce/log/skip; integrity cannot be relaxed. An exact
//! scope wins over `*`; an image no scope matches has no policy (deny).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::oci::reference::Reference;
use crate::signature::cert::{CertError, Certificate};
use crate::signature::trust::TrustMaterial;
use crate::verify::pipeline::{Check, Identities};

/// Why a trust configuration cannot be used; formatted once, at the edge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `trustpolicy.json` cannot be read.
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// Not JSON of the expected shape.
    #[error("trustpolicy.json: {0}")]
    Syntax(String),
    #[error("trustpolicy.json: unsupported version {0:?} (expected \"1.0\")")]
    Version(String),
    #[error("trustpolicy.json: no trustPolicies")]
    NoStatements,
    #[error("trust policy #{0}: empty name")]
    EmptyName(usize),
    #[error("trust policy {0:?} is defined twice")]
    DuplicateName(String),
    /// One statement is wrong.
    #[error("trust policy {policy:?}: {problem}")]
    Statement {
        policy: String,
        problem: StatementError,
    },
    /// The policy ConfigMap lacks the document's key.
    #[error("ConfigMap {configmap} (labelled {label}) has no {key} key")]
    ConfigMapWithoutKey {
        configmap: String,
        label: &'static str,
        key: &'static str,
    },
    #[error("two ConfigMaps are labelled {label}: {first} and {second}; keep one")]
    TwoPolicyConfigMaps {
        label: &'static str,
        first: String,
        second: String,
    },
    #[error("no ConfigMap labelled {0} in the namespace")]
    NoPolicyConfigMap(&'static str),
    /// The document held in a ConfigMap is wrong.
    #[error("ConfigMap {configmap}: {error}")]
    InConfigMap {
        configmap: String,
        error: Box<PolicyError>,
    },
    /// Stores the policy names are missing, empty or unreadable.
    #[error("{}", .0.join("; "))]
    Withdrawn(Vec<String>),
}

/// What is wrong with one trust policy statement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("no registryScopes")]
    NoScopes,
    #[error("\"*\" must be the only registry scope of its policy")]
    WildcardNotAlone,
    #[error("another policy already uses the \"*\" scope")]
    WildcardTaken,
    #[error("registry scope {0:?} must be REGISTRY/REPOSITORY without tag or digest")]
    ScopeHasVersion(String),
    #[error("registry scope {0:?} must name a registry and a repository")]
    ScopeWithoutRepository(String),
    #[error("registry scope: {0}")]
    ScopeInvalid(crate::oci::reference::ReferenceError),
    #[error("registry scope {0:?} is claimed by another policy")]
    ScopeClaimed(String),
    #[error("unknown signatureVerification.level {0:?} (strict, permissive, audit or skip)")]
    UnknownLevel(String),
    #[error("level skip takes no override")]
    OverrideOfSkip,
    #[error("override {check}: unknown action {action:?} (enforce, log or skip)")]
    UnknownAction { check: String, action: String },
    #[error("integrity cannot be overridden")]
    IntegrityOverride,
    #[error("override: unknown check {0:?}")]
    UnknownCheck(String),
    #[error("no trustStores (required unless the level is skip)")]
    NoTrustStores,
    #[error(
        "no trustedIdentities (required unless the level is skip; \"*\" trusts any signer of the stores)"
    )]
    NoTrustedIdentities,
    #[error("trust store {0:?} is not TYPE:NAME")]
    StoreName(String),
    #[error("trust store type {0:?} is not ca, signingAuthority or tsa")]
    StoreType(String),
    #[error("\"*\" must be the only trusted identity")]
    WildcardIdentityNotAlone,
    #[error("trusted identity {0:?} is not \"*\" or \"x509.subject: …\"")]
    IdentityForm(String),
    #[error("trusted identity {identity:?}: {error}")]
    IdentityName {
        identity: String,
        error: crate::signature::dn::DnError,
    },
    #[error("{0}")]
    Trust(crate::signature::trust::TrustError),
}

/// The raw JSON form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyDocument {
    version: String,
    #[serde(rename = "trustPolicies")]
    trust_policies: Vec<RawPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    #[serde(rename = "registryScopes")]
    registry_scopes: Vec<String>,
    #[serde(rename = "signatureVerification")]
    signature_verification: RawVerification,
    #[serde(rename = "trustStores", default)]
    trust_stores: Vec<String>,
    #[serde(rename = "trustedIdentities", default)]
    trusted_identities: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerification {
    level: String,
    #[serde(rename = "override", default)]
    overrides: BTreeMap<String, String>,
    /// Notation's verifyTimestamp: accepted, no meaning for .nv2 files.
    #[serde(rename = "verifyTimestamp", default)]
    _verify_timestamp: Option<String>,
}

/// What happens to failures of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Enforce,
    Log,
    Skip,
}

/// A policy level with its overrides applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    pub name: String,
    pub skip: bool,
    authenticity: Action,
    expiry: Action,
}

impl Level {
    // Over 60 lines: one statement's rules in document order, each with its own typed error.
    pub(crate) fn parse(
        name: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, StatementError> {
        let (skip, mut authenticity, mut expiry) = match name {
            "strict" => (false, Action::Enforce, Action::Enforce),
            "permissive" => (false, Action::Enforce, Action::Log),
            "audit" => (false, Action::Log, Action::Log),
            "skip" => (true, Action::Skip, Action::Skip),
            other => return Err(StatementError::UnknownLevel(other.to_owned())),
        };
        for (check, action) in overrides {
            if skip {
                return Err(StatementError::OverrideOfSkip);
            }
            let action = match action.as_str() {
                "enforce" => Action::Enforce,
                "log" => Action::Log,
                "skip" => Action::Skip,
                other => {
                    return Err(StatementError::UnknownAction {
                        check: check.clone(),
                        action: other.to_owned(),
                    });
                }
            };
            match check.as_str() {
                "authenticity" => authenticity = action,
                "expiry" => expiry = action,
                "integrity" => return Err(StatementError::IntegrityOverride),
                "revocation" | "authenticTimestamp" => {}
                other => return Err(StatementError::UnknownCheck(other.to_owned())),
            }
        }
        Ok(Level {
            name: name.to_owned(),
            skip,
            authenticity,
            expiry,
        })
    }

    /// The checks whose failures deny.
    pub fn enforced(&self) -> Vec<Check> {
        if self.skip {
            return Vec::new();
        }
        let mut v = vec![Check::Integrity];
        if self.authenticity == Action::Enforce {
            v.push(Check::Authenticity);
        }
        if self.expiry == Action::Enforce {
            v.push(Check::Expiry);
        }
        v
    }

    /// The checks whose failures are reported as warnings.
    pub fn logged(&self) -> Vec<Check> {
        let mut v = Vec::new();
        if self.authenticity == Action::Log {
            v.push(Check::Authenticity);
        }
        if self.expiry == Action::Log {
            v.push(Check::Expiry);
        }
        v
    }

    /// Audit-like: nothing but integrity denies, so missing signatures and
    /// registry errors are warnings rather than denials.
    pub fn is_audit(&self) -> bool {
        !self.skip && self.authenticity != Action::Enforce
    }
}

/// One compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub level: Level,
    pub trust: TrustMaterial,
    pub identities: Identities,
    scopes: Vec<String>,
}

impl Policy {
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// A validated trust policy document with its stores loaded.
#[derive(Debug)]
pub struct TrustPolicy {
    policies: Vec<Policy>,
    exact: HashMap<String, usize>,
    wildcard: Option<usize>,
    /// Why some named stores trust nothing (missing or empty).
    withdrawn: Vec<String>,
}

/// What a trust configuration is made of, read apart so that a broken part
/// never keeps trust that another part took away: the document (or why it
/// cannot be read), the stores, and the stores that could not be read (kept
/// as empty: a store that cannot be read trusts nothing).
#[derive(Debug)]
pub(crate) struct TrustInputs {
    pub document: Result<Vec<u8>, PolicyError>,
    pub stores: Stores,
    pub problems: Vec<String>,
}

impl TrustInputs {
    /// Reads a trust directory; a store with an unreadable or malformed file
    /// is kept empty and named in `problems`.
    pub(crate) fn from_dir(dir: &Path) -> Self {
        let document =
            crate::io::read_config(&dir.join("trustpolicy.json"), 1 << 20).map_err(|e| {
                PolicyError::Unreadable {
                    path: dir.join("trustpolicy.json").display().to_string(),
                    reason: e.to_string(),
                }
            });
        let mut stores = Stores::new();
        let mut problems = Vec::new();
        for kind in ["ca", "signingAuthority"] {
            let kind_dir = dir.join("x509").join(kind);
            let Ok(entries) = std::fs::read_dir(&kind_dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let store_dir = entry.path();
                if !store_dir.is_dir() {
                    continue;
                }
                let key = format!("{kind}:{}", entry.file_name().to_string_lossy());
                match read_store_dir(&store_dir) {
                    Ok(certs) => {
                        stores.insert(key, certs);
                    }
                    Err(e) => {
                        problems.push(format!(
                            "trust store {key:?} cannot be read, so it trusts nothing: {e}"
                        ));
                        stores.insert(key, Vec::new());
                    }
                }
            }
        }
        TrustInputs {
            document,
            stores,
            problems,
        }
    }

    /// The policy these inputs make; stores that could not be read trust
    /// nothing and are listed in [`TrustPolicy::withdrawn`].
    pub(crate) fn policy(&self) -> Result<TrustPolicy, PolicyError> {
        let document = self.document.as_ref().map_err(Clone::clone)?;
        Ok(TrustPolicy::parse(document, &self.stores)?.with_problems(&self.problems))
    }

    /// As [`Self::policy`]; but when the document is broken and the last
    /// good one, bound to today's stores, withdraws trust (a store deleted,
    /// emptied or unreadable), that policy — so a removal is never masked by
    /// another mistake made at the same time. Otherwise the document's error.
    pub(crate) fn policy_or_withdrawal(
        &self,
        last_document: Option<&[u8]>,
    ) -> Result<TrustPolicy, PolicyError> {
        match (self.policy(), last_document) {
            (Ok(p), _) => Ok(p),
            (Err(e), Some(last)) => match TrustPolicy::parse(last, &self.stores) {
                Ok(p) => {
                    let p = p.with_problems(&self.problems);
                    if p.withdrawn().is_empty() {
                        Err(e)
                    } else {
                        Ok(p.with_problems(&[e.to_string()]))
                    }
                }
                Err(_) => Err(e),
            },
            (Err(e), None) => Err(e),
        }
    }
}

/// Every certificate of a store directory (`*.pem`, `*.crt`, `*.cer`).
fn read_store_dir(store_dir: &Path) -> Result<Vec<Certificate>, CertError> {
    let mut files: Vec<_> = std::fs::read_dir(store_dir)
        .map_err(|e| CertError::File {
            path: store_dir.display().to_string(),
            reason: e.to_string(),
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "pem" | "crt" | "cer"))
        })
        .collect();
    files.sort();
    let mut certs = Vec::new();
    for f in files {
        let bytes =
            crate::io::read_config(&f, crate::io::MAX_CERT_FILE).map_err(|e| CertError::File {
                path: f.display().to_string(),
                reason: e.to_string(),
            })?;
        certs.extend(Certificate::from_pem(&bytes).map_err(|e| CertError::File {
            path: f.display().to_string(),
            reason: e.to_string(),
        })?);
    }
    Ok(certs)
}

/// Trust stores by `type:name`, each a list of certificates.
pub(crate) type Stores = HashMap<String, Vec<Certificate>>;

impl TrustPolicy {
    /// Parses `trustpolicy.json` and binds it to `stores` (keys `ca:NAME`,
    /// `signingAuthority:NAME`). Every referenced store must exist and hold
    /// at least one certificate.
    pub fn parse(json: &[u8], stores: &Stores) -> Result<Self, PolicyError> {
        let raw: RawPolicyDocument = serde_json::from_slice(json)
            .map_err(|e| PolicyError::Syntax(crate::text::one_line(e)))?;
        if raw.version != "1.0" {
            return Err(PolicyError::Version(raw.version));
        }
        if raw.trust_policies.is_empty() {
            return Err(PolicyError::NoStatements);
        }
        let mut withdrawn = Vec::new();
        let mut policies = Vec::new();
        let mut exact = HashMap::new();
        let mut wildcard = None;
        let mut names = std::collections::HashSet::new();
        for (i, p) in raw.trust_policies.into_iter().enumerate() {
            let ctx = |problem: StatementError| PolicyError::Statement {
                policy: p.name.clone(),
                problem,
            };
            if p.name.is_empty() {
                return Err(PolicyError::EmptyName(i + 1));
            }
            if !names.insert(p.name.clone()) {
                return Err(PolicyError::DuplicateName(p.name));
            }
            if p.registry_scopes.is_empty() {
                return Err(ctx(StatementError::NoScopes));
            }
            for scope in &p.registry_scopes {
                if scope == "*" {
                    if p.registry_scopes.len() > 1 {
                        return Err(ctx(StatementError::WildcardNotAlone));
                    }
                    if wildcard.replace(i).is_some() {
                        return Err(ctx(StatementError::WildcardTaken));
                    }
                    continue;
                }
                let normalised = normalise_scope(scope).map_err(ctx)?;
                if exact.insert(normalised.clone(), i).is_some() {
                    return Err(ctx(StatementError::ScopeClaimed(scope.clone())));
                }
            }
            let level = Level::parse(
                &p.signature_verification.level,
                &p.signature_verification.overrides,
            )
            .map_err(ctx)?;
            let mut certs = Vec::new();
            if !level.skip {
                if p.trust_stores.is_empty() {
                    return Err(ctx(StatementError::NoTrustStores));
                }
                if p.trusted_identities.is_empty() {
                    return Err(ctx(StatementError::NoTrustedIdentities));
                }
            }
            for store in &p.trust_stores {
                let (kind, name) = store
                    .split_once(':')
                    .ok_or_else(|| ctx(StatementError::StoreName(store.clone())))?;
                if !matches!(kind, "ca" | "signingAuthority" | "tsa") {
                    return Err(ctx(StatementError::StoreType(kind.to_owned())));
                }
                if kind == "tsa" {
                    continue;
                }
                // A missing or empty store trusts nothing: the policy is
                // incomplete (see `withdrawn`), never looser.
                match stores.get(store) {
                    None => withdrawn.push(format!(
                        "trust policy {:?}: trust store {store:?} does not exist (x509/{kind}/{name}/)",
                        p.name
                    )),
                    Some(found) if found.is_empty() => withdrawn.push(format!(
                        "trust policy {:?}: trust store {store:?} holds no certificate",
                        p.name
                    )),
                    Some(found) => certs.extend(found.iter().cloned()),
                }
            }
            let identities = parse_identities(&p.trusted_identities).map_err(ctx)?;
            let trust = TrustMaterial::from_store_certificates(certs)
                .map_err(|e| ctx(StatementError::Trust(e)))?;
            policies.push(Policy {
                name: p.name,
                level,
                trust,
                identities,
                scopes: p.registry_scopes,
            });
        }
        Ok(TrustPolicy {
            policies,
            exact,
            wildcard,
            withdrawn,
        })
    }

    /// Stores the policy names that are missing or empty. Such a policy is
    /// still consistent — those stores trust nothing — so the webhook can
    /// install it to withdraw trust at once when a store is deleted (a
    /// compromised root); everything else refuses it ([`Self::complete`]).
    pub fn withdrawn(&self) -> &[String] {
        &self.withdrawn
    }

    /// The policy, if every store it names exists and holds a certificate.
    pub fn complete(self) -> Result<Self, PolicyError> {
        if self.withdrawn.is_empty() {
            Ok(self)
        } else {
            Err(PolicyError::Withdrawn(self.withdrawn))
        }
    }

    /// Reads a trust directory: `trustpolicy.json` and `x509/{ca,signingAuthority}/NAME/*.{pem,crt,cer}`.
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        TrustInputs::from_dir(dir).policy()
    }

    /// Adds reasons why some trust is withdrawn.
    pub fn with_problems(mut self, problems: &[String]) -> Self {
        self.withdrawn.extend(problems.iter().cloned());
        self
    }

    /// The policy for image `r`: its exact `registry/repository` scope, else `*`.
    pub fn policy_for(&self, r: &Reference) -> Option<&Policy> {
        self.exact
            .get(&r.repo_name())
            .or(self.wildcard.as_ref())
            .map(|&i| &self.policies[i])
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }
}

/// `localhost:5000/hello-world` → the same; `docker.io/nginx` → `docker.io/library/nginx`.
fn normalise_scope(scope: &str) -> Result<String, StatementError> {
    if scope.contains('@')
        || scope
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        return Err(StatementError::ScopeHasVersion(scope.to_owned()));
    }
    if !scope.contains('/') {
        return Err(StatementError::ScopeWithoutRepository(scope.to_owned()));
    }
    Reference::parse(scope)
        .map(|r| r.repo_name())
        .map_err(StatementError::ScopeInvalid)
}

fn parse_identities(list: &[String]) -> Result<Identities, StatementError> {
    if list.iter().any(|i| i == "*") {
        if list.len() > 1 {
            return Err(StatementError::WildcardIdentityNotAlone);
        }
        return Ok(Identities::Any);
    }
    let mut subjects = Vec::new();
    for id in list {
        let value = id
            .strip_prefix("x509.subject:")
            .ok_or_else(|| StatementError::IdentityForm(id.clone()))?;
        let dn = crate::signature::dn::Name::parse_rfc4514(value).map_err(|error| {
            StatementError::IdentityName {
                identity: crate::oci::digest::shorten(id),
                error,
            }
        })?;
        subjects.push(dn);
    }
    Ok(Identities::Subjects(subjects))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores() -> Stores {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let c = Certificate::from_der(cert.der().to_vec()).unwrap();
        Stores::from([("ca:acme".to_owned(), vec![c])])
    }

    fn doc(policies: &str) -> Vec<u8> {
        format!(r#"{{"version":"1.0","trustPolicies":[{policies}]}}"#).into_bytes()
    }

    const STRICT_ALL: &str = r#"{"name":"all","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:acme"],"trustedIdentities":["*"]}"#;

    #[test]
    fn exact_scope_wins_over_wildcard() {
        let p = format!(
            r#"{STRICT_ALL},{{"name":"dev","registryScopes":["localhost:5000/hello-world","docker.io/nginx"],"signatureVerification":{{"level":"audit"}},"trustStores":["ca:acme"],"trustedIdentities":["x509.subject: CN=x, O=acme"]}}"#
        );
        let tp = TrustPolicy::parse(&doc(&p), &stores()).unwrap();
        let name = |r: &str| {
            tp.policy_for(&Reference::parse(r).unwrap())
                .map(|p| p.name.clone())
        };
        assert_eq!(
            name("localhost:5000/hello-world:v1").as_deref(),
            Some("dev")
        );
        assert_eq!(name("nginx:1.25").as_deref(), Some("dev"));
        assert_eq!(name("localhost:5000/other:v1").as_deref(), Some("all"));
    }

    #[test]
    fn every_spelling_of_a_registry_chooses_its_policy() {
        let p = format!(
            r#"{},{{"name":"local","registryScopes":["localhost:5055/app","registry.example.com/shop/web","[::1]:5000/x"],"signatureVerification":{{"level":"strict"}},"trustStores":["ca:acme"],"trustedIdentities":["*"]}}"#,
            STRICT_ALL
                .replace("\"all\"", "\"catch-all\"")
                .replace("strict", "audit")
        );
        let tp = TrustPolicy::parse(&doc(&p), &stores()).unwrap();
        for image in [
            "localhost:5055/app:v1",
            "LOCALHOST:5055/app:v1",
            "localhost:05055/app:v1",
            "Localhost:005055/app@sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55",
            "registry.example.com:443/shop/web:1",
            "REGISTRY.example.com/shop/web:1",
            "[0:0::1]:5000/x:1",
            "[0000::0001]:05000/x:1",
        ] {
            let r = Reference::parse(image).unwrap();
            assert_eq!(tp.policy_for(&r).unwrap().name, "local", "{image}");
        }
        // Scopes are canonical too: a second spelling of a claimed scope clashes.
        let clash = p.replace(
            "\"[::1]:5000/x\"",
            "\"[::1]:5000/x\",\"LOCALHOST:05055/app\"",
        );
        let err = TrustPolicy::parse(&doc(&clash), &stores()).unwrap_err();
        assert!(
            matches!(
                &err,
                PolicyError::Statement { problem: StatementError::ScopeClaimed(s), .. }
                    if s == "LOCALHOST:05055/app"
            ),
            "{err}"
        );
    }

    #[test]
    fn no_wildcard_means_no_policy() {
        let p = r#"{"name":"dev","registryScopes":["r.io/a"],"signatureVerification":{"level":"skip"}}"#;
        let tp = TrustPolicy::parse(&doc(p), &Stores::new()).unwrap();
        assert!(
            tp.policy_for(&Reference::parse("r.io/b").unwrap())
                .is_none()
        );
        assert!(
            tp.policy_for(&Reference::parse("r.io/a:1").unwrap())
                .unwrap()
                .level
                .skip
        );
    }

    #[test]
    fn levels_and_overrides() {
        let l = Level::parse("strict", &BTreeMap::new()).unwrap();
        assert_eq!(
            l.enforced(),
            vec![Check::Integrity, Check::Authenticity, Check::Expiry]
        );
        let l = Level::parse("permissive", &BTreeMap::new()).unwrap();
        assert_eq!(l.enforced(), vec![Check::Integrity, Check::Authenticity]);
        assert_eq!(l.logged(), vec![Check::Expiry]);
        let l = Level::parse("audit", &BTreeMap::new()).unwrap();
        assert_eq!(l.enforced(), vec![Check::Integrity]);
        assert!(l.is_audit());
        let l = Level::parse(
            "strict",
            &BTreeMap::from([("expiry".to_owned(), "log".to_owned())]),
        )
        .unwrap();
        assert_eq!(l.enforced(), vec![Check::Integrity, Check::Authenticity]);
        assert!(
            Level::parse(
                "strict",
                &BTreeMap::from([("integrity".to_owned(), "log".to_owned())])
            )
            .is_err()
        );
        assert!(Level::parse("lenient", &BTreeMap::new()).is_err());
    }

    #[test]
    fn rejects_invalid_documents() {
        let cases = [
            (
                r#"{"version":"2.0","trustPolicies":[]}"#.as_bytes().to_vec(),
                "version",
            ),
            (b"not json".to_vec(), "trustpolicy.json"),
            (doc(""), "no trustPolicies"),
            (doc(&format!("{STRICT_ALL},{STRICT_ALL}")), "defined twice"),
            (
                doc(&STRICT_ALL
                    .replace("\"all\"", "\"a\"")
                    .replace("ca:acme", "ca:missing")),
                "does not exist",
            ),
            (
                doc(&STRICT_ALL
                    .replace("\"trustedIdentities\":[\"*\"]", "\"trustedIdentities\":[]")),
                "no trustedIdentities",
            ),
            (
                doc(&STRICT_ALL.replace("[\"*\"],\"sig", "[\"*\",\"r.io/a\"],\"sig")),
                "only registry scope",
            ),
            (
                doc(&STRICT_ALL.replace("[\"*\"],\"sig", "[\"r.io/a:v1\"],\"sig")),
                "without tag",
            ),
            (
                doc(&STRICT_ALL.replace("strict", "lenient")),
                "unknown signatureVerification.level",
            ),
            (
                doc(&STRICT_ALL.replace("ca:acme", "x509:acme")),
                "not ca, signingAuthority",
            ),
            (
                doc(&STRICT_ALL.replace("\"*\"]}", "\"CN=x\"]}")),
                "not \"*\" or",
            ),
            (
                doc(&STRICT_ALL.replace("\"*\"]}", "\"x509.subject: CN=a, CN=b\"]}")),
                "listed twice",
            ),
            (
                doc(&STRICT_ALL.replace("\"*\"]}", "\"x509.subject: CN=a=b\"]}")),
                "unescaped",
            ),
            (
                doc(&STRICT_ALL.replace("[\"*\"],\"sig", "[\"LOCALHOST:0/a\"],\"sig")),
                "registry port",
            ),
            (
                doc(&STRICT_ALL.replace("\"name\"", "\"nmae\"")),
                "unknown field",
            ),
        ];
        for (json, needle) in cases {
            let err = TrustPolicy::parse(&json, &stores())
                .and_then(TrustPolicy::complete)
                .unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }
}
