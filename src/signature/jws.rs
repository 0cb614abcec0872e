//! Notation's JWS envelope (`application/jose+json`: the JSON serialisation,
//! flattened), read under the Notary Project's rules
//! (`signature-envelope-jws.md`, `signature-specification.md`): the protected
//! header's fixed parts, its critical headers, the signing scheme and times,
//! the payload's target descriptor, the `x5c` chain; and its integrity — the
//! signature over `BASE64URL(protected) "." BASE64URL(payload)` with the
//! leaf's key, in the one algorithm that key allows.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use crate::oci::digest::{Digest, shorten};
use crate::signature::cert::Certificate;
use crate::signature::crypto::{Algorithm, CryptoError, KeyKind};
use crate::signature::envelope::{X5cError, x5c_certificate};

/// The envelope's media type (the signature layer's).
pub(crate) const MEDIA_TYPE: &str = "application/jose+json";
/// The only payload content type.
pub(crate) const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";

const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
const EXPIRY: &str = "io.cncf.notary.expiry";
const PLUGIN: &str = "io.cncf.notary.verificationPlugin";
const PLUGIN_MIN_VERSION: &str = "io.cncf.notary.verificationPluginMinVersion";
/// Headers a signature may mark critical: the ones nv2 understands.
const UNDERSTOOD_CRITICAL: &[&str] = &[
    SIGNING_SCHEME,
    AUTHENTIC_SIGNING_TIME,
    EXPIRY,
    PLUGIN,
    PLUGIN_MIN_VERSION,
];
/// At most this many certificates in `x5c`.
const MAX_CHAIN: usize = 10;

/// Notation's signing schemes; each decides the trust store type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) enum SigningScheme {
    /// `notary.x509`: `ca` stores, `signingTime` asserted by the signer.
    X509,
    /// `notary.x509.signingAuthority`: `signingAuthority` stores, the
    /// signing time vouched for by the authority.
    SigningAuthority,
}

impl SigningScheme {
    pub(crate) fn name(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::SigningAuthority => "notary.x509.signingAuthority",
        }
    }
}

/// The payload's target: the descriptor of what was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TargetArtifact {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// Why bytes are not a Notation JWS envelope nv2 accepts (all integrity
/// failures: the signature cannot be read as signed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a JWS envelope: {0}")]
    Json(String),
    #[error("{part} is not unpadded base64url")]
    Base64 { part: &'static str },
    #[error("the protected header is not a JSON object without duplicate names: {0}")]
    Header(String),
    #[error("the protected header names {0:?} twice")]
    DuplicateHeader(String),
    #[error(
        "\"alg\" {0:?} is not PS256, PS384, PS512, ES256 or ES384 (ES512 is not supported yet)"
    )]
    Algorithm(String),
    #[error("\"cty\" must be {PAYLOAD_CONTENT_TYPE:?}, not {0:?}")]
    ContentType(String),
    #[error("\"crit\" must be a non-empty list of header names, each present")]
    CritShape,
    #[error("\"crit\" names {0:?}, which nv2 does not understand")]
    UnknownCritical(String),
    #[error("{0} must be listed in \"crit\"")]
    NotCritical(&'static str),
    #[error("requires verification plugin {0:?}, which nv2 does not run")]
    Plugin(String),
    #[error("signing scheme {0:?} is not notary.x509 or notary.x509.signingAuthority")]
    Scheme(String),
    #[error("{header} is missing or not an RFC 3339 time")]
    Time { header: &'static str },
    #[error("{header} may not be present under signing scheme {scheme}")]
    WrongTimeHeader {
        scheme: &'static str,
        header: &'static str,
    },
    #[error("the payload is not {PAYLOAD_CONTENT_TYPE}: {0}")]
    Payload(String),
    #[error("\"x5c\" must hold 1 to {MAX_CHAIN} certificates")]
    ChainLength,
    #[error("{0}")]
    Certificate(#[from] X5cError),
    #[error("the timestamp countersignature is not base64")]
    Timestamp,
}

/// Why a well-formed envelope's signature does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwsIntegrityError {
    #[error("\"alg\" {alg} does not fit the signer's {key} key (Notation fixes {required})")]
    AlgorithmForKey {
        alg: Algorithm,
        key: KeyKind,
        required: String,
    },
    #[error("{0}")]
    Crypto(#[from] CryptoError),
}

/// A parsed Notation JWS envelope.
#[derive(Clone, Debug)]
pub(crate) struct JwsEnvelope {
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    pub alg: Algorithm,
    pub scheme: SigningScheme,
    /// Unix seconds, from `signingTime` or `authenticSigningTime`.
    pub signing_time: i64,
    pub expiry: Option<i64>,
    pub target: TargetArtifact,
    /// Leaf first.
    pub chain: Vec<Certificate>,
    /// The RFC 3161 token (`io.cncf.notary.timestampSignature`), unverified.
    pub timestamp: Option<Vec<u8>>,
    /// Unprotected `io.cncf.notary.signingAgent`, any case of its name.
    pub signing_agent: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    payload: String,
    protected: String,
    header: BTreeMap<String, serde_json::Value>,
    signature: String,
}

#[derive(Deserialize)]
struct RawPayload {
    #[serde(rename = "targetArtifact")]
    target_artifact: RawDescriptor,
}

#[derive(Deserialize)]
struct RawDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

/// The names of a JSON object, in order, duplicates kept.
struct Names(Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    names.push(name);
                }
                Ok(Names(names))
            }
        }
        d.deserialize_map(V)
    }
}

fn unbase64url(part: &'static str, s: &str) -> Result<Vec<u8>, JwsError> {
    B64URL.decode(s).map_err(|_| JwsError::Base64 { part })
}

/// A time as RFC 3339 writes it (and Go parses it): `T` and `Z` upper case,
/// no leap second.
fn rfc3339(header: &'static str, value: Option<&serde_json::Value>) -> Result<i64, JwsError> {
    value
        .and_then(serde_json::Value::as_str)
        .filter(|s| {
            let b = s.as_bytes();
            b.len() >= 20 && b[10] == b'T' && !s.contains(['t', 'z']) && &s[17..19] != "60"
        })
        .and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| t.unix_timestamp())
        .ok_or(JwsError::Time { header })
}

/// The algorithm Notation fixes for a key: RSA 2048/3072/4096 → PS256/384/512,
/// EC P-256/P-384 → ES256/ES384 (P-521's ES512 is not supported here).
pub(crate) fn notation_algorithm(key: &KeyKind) -> Option<Algorithm> {
    match key {
        KeyKind::Rsa { bits: 2048 } => Some(Algorithm::PS256),
        KeyKind::Rsa { bits: 3072 } => Some(Algorithm::PS384),
        KeyKind::Rsa { bits: 4096 } => Some(Algorithm::PS512),
        KeyKind::EcP256 => Some(Algorithm::ES256),
        KeyKind::EcP384 => Some(Algorithm::ES384),
        _ => None,
    }
}

impl JwsEnvelope {
    /// Parses `bytes` under Notation's JWS rules.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, JwsError> {
        let raw: RawEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| JwsError::Json(crate::text::short_line(e)))?;
        let protected_bytes = unbase64url("\"protected\"", &raw.protected)?;
        let payload_bytes = unbase64url("\"payload\"", &raw.payload)?;
        let signature = unbase64url("\"signature\"", &raw.signature)?;
        let header = Self::protected_header(&protected_bytes)?;
        let alg = header
            .get("alg")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| JwsError::Algorithm(String::new()))?;
        let alg = match Algorithm::parse(alg) {
            Some(a @ (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512))
            | Some(a @ (Algorithm::ES256 | Algorithm::ES384)) => a,
            _ => return Err(JwsError::Algorithm(shorten(alg))),
        };
        match header.get("cty").and_then(serde_json::Value::as_str) {
            Some(PAYLOAD_CONTENT_TYPE) => {}
            other => return Err(JwsError::ContentType(shorten(other.unwrap_or("")))),
        }
        Self::check_critical(&header)?;
        if let Some(plugin) = header.get(PLUGIN) {
            return Err(JwsError::Plugin(shorten(
                plugin.as_str().unwrap_or("(not a string)"),
            )));
        }
        let (scheme, signing_time) = match header.get(SIGNING_SCHEME).and_then(|v| v.as_str()) {
            // Each scheme has its own signing-time header, never the other's.
            Some("notary.x509") if header.contains_key(AUTHENTIC_SIGNING_TIME) => {
                return Err(JwsError::WrongTimeHeader {
                    scheme: "notary.x509",
                    header: AUTHENTIC_SIGNING_TIME,
                });
            }
            Some("notary.x509.signingAuthority") if header.contains_key(SIGNING_TIME) => {
                return Err(JwsError::WrongTimeHeader {
                    scheme: "notary.x509.signingAuthority",
                    header: SIGNING_TIME,
                });
            }
            Some("notary.x509") => (
                SigningScheme::X509,
                rfc3339(SIGNING_TIME, header.get(SIGNING_TIME))?,
            ),
            Some("notary.x509.signingAuthority") => {
                if !Self::critical_names(&header).contains(&AUTHENTIC_SIGNING_TIME) {
                    return Err(JwsError::NotCritical(AUTHENTIC_SIGNING_TIME));
                }
                (
                    SigningScheme::SigningAuthority,
                    rfc3339(AUTHENTIC_SIGNING_TIME, header.get(AUTHENTIC_SIGNING_TIME))?,
                )
            }
            other => return Err(JwsError::Scheme(shorten(other.unwrap_or("")))),
        };
        let expiry = match header.get(EXPIRY) {
            None => None,
            Some(v) => {
                if !Self::critical_names(&header).contains(&EXPIRY) {
                    return Err(JwsError::NotCritical(EXPIRY));
                }
                Some(rfc3339(EXPIRY, Some(v))?)
            }
        };
        let payload: RawPayload = serde_json::from_slice(&payload_bytes)
            .map_err(|e| JwsError::Payload(crate::text::short_line(e)))?;
        let target = TargetArtifact {
            digest: Digest::parse(&payload.target_artifact.digest)
                .map_err(|e| JwsError::Payload(e.to_string()))?,
            media_type: payload.target_artifact.media_type,
            size: payload.target_artifact.size,
        };
        let (chain, timestamp, signing_agent) = Self::unprotected(&raw.header)?;
        let mut signing_input = raw.protected.into_bytes();
        signing_input.push(b'.');
        signing_input.extend_from_slice(raw.payload.as_bytes());
        Ok(JwsEnvelope {
            signing_input,
            signature,
            alg,
            scheme,
            signing_time,
            expiry,
            target,
            chain,
            timestamp,
            signing_agent,
        })
    }

    /// The protected header as a map, refusing duplicate names (two parsers
    /// must never read two different headers from the same bytes).
    fn protected_header(bytes: &[u8]) -> Result<BTreeMap<String, serde_json::Value>, JwsError> {
        let names: Names =
            serde_json::from_slice(bytes).map_err(|e| JwsError::Header(shorten(&e.to_string())))?;
        let mut seen = std::collections::BTreeSet::new();
        for n in &names.0 {
            if !seen.insert(n.as_str()) {
                return Err(JwsError::DuplicateHeader(shorten(n)));
            }
        }
        serde_json::from_slice(bytes).map_err(|e| JwsError::Header(shorten(&e.to_string())))
    }

    fn critical_names(header: &BTreeMap<String, serde_json::Value>) -> Vec<&str> {
        header
            .get("crit")
            .and_then(serde_json::Value::as_array)
            .map(|list| list.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default()
    }

    /// `crit`: a non-empty list of distinct strings, each understood and
    /// present, including the signing scheme.
    fn check_critical(header: &BTreeMap<String, serde_json::Value>) -> Result<(), JwsError> {
        let list = header
            .get("crit")
            .and_then(serde_json::Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or(JwsError::CritShape)?;
        let mut seen = std::collections::BTreeSet::new();
        for entry in list {
            let name = entry.as_str().ok_or(JwsError::CritShape)?;
            if !seen.insert(name) || !header.contains_key(name) {
                return Err(JwsError::CritShape);
            }
            if !UNDERSTOOD_CRITICAL.contains(&name) {
                return Err(JwsError::UnknownCritical(shorten(name)));
            }
        }
        if !seen.contains(SIGNING_SCHEME) {
            return Err(JwsError::NotCritical(SIGNING_SCHEME));
        }
        Ok(())
    }

    /// The unprotected header, read leniently: `x5c` (required), the
    /// timestamp, and the signing agent under any case of its name.
    #[allow(clippy::type_complexity)]
    fn unprotected(
        header: &BTreeMap<String, serde_json::Value>,
    ) -> Result<(Vec<Certificate>, Option<Vec<u8>>, Option<String>), JwsError> {
        let x5c = header
            .get("x5c")
            .and_then(serde_json::Value::as_array)
            .filter(|l| !l.is_empty() && l.len() <= MAX_CHAIN)
            .ok_or(JwsError::ChainLength)?;
        let mut chain = Vec::with_capacity(x5c.len());
        for (index, entry) in x5c.iter().enumerate() {
            let b64 = entry.as_str().ok_or(JwsError::ChainLength)?;
            chain.push(x5c_certificate(index, b64)?);
        }
        let timestamp = match header.get("io.cncf.notary.timestampSignature") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .and_then(|s| crate::signature::envelope::decode_base64(s).ok())
                    .ok_or(JwsError::Timestamp)?,
            ),
        };
        let signing_agent = header
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("io.cncf.notary.signingAgent"))
            .and_then(|(_, v)| v.as_str())
            .map(|s| crate::text::printable(s).into_owned());
        Ok((chain, timestamp, signing_agent))
    }

    /// Integrity: `alg` is the one the leaf's key allows, and the signature
    /// verifies over the signing input with that key.
    pub(crate) fn verify_integrity(&self) -> Result<(), JwsIntegrityError> {
        let key = self.chain[0].public_key();
        let required = notation_algorithm(key.kind());
        if required != Some(self.alg) {
            return Err(JwsIntegrityError::AlgorithmForKey {
                alg: self.alg,
                key: key.kind().clone(),
                required: required.map_or_else(|| "no algorithm".to_owned(), |a| a.to_string()),
            });
        }
        Ok(key.verify(self.alg, &self.signing_input, &self.signature)?)
    }
}

/// Why a Notation JWS envelope could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwsSignError {
    #[error("a {0} key has no Notation algorithm (RSA 2048/3072/4096, EC P-256/P-384)")]
    Key(KeyKind),
    #[error("the certificate chain is empty or longer than {MAX_CHAIN}")]
    Chain,
    #[error("the signing key does not match the chain's leaf certificate")]
    KeyMismatch,
    #[error("signing failed: {0}")]
    Sign(String),
}

/// What a Notation signature is made of: the target's descriptor, the
/// signer, and its times (Unix seconds).
pub(crate) struct JwsSigning<'a> {
    pub target: &'a TargetArtifact,
    pub key: &'a crate::signature::crypto::SigningKey,
    /// Leaf first.
    pub chain: &'a [Certificate],
    pub signing_time: i64,
    pub expiry: Option<i64>,
}

fn rfc3339_utc(unix: i64) -> String {
    crate::time::rfc3339(unix)
}

/// Signs as Notation does (`notary.x509`): the key's one algorithm, the
/// scheme and `signingTime` (and a critical `expiry` when given) in the
/// protected header, the chain as `x5c`.
pub(crate) fn sign(s: &JwsSigning<'_>) -> Result<Vec<u8>, JwsSignError> {
    let kind = s.key.kind();
    let alg = notation_algorithm(&kind).ok_or(JwsSignError::Key(kind))?;
    if s.chain.is_empty() || s.chain.len() > MAX_CHAIN {
        return Err(JwsSignError::Chain);
    }
    if !s.key.matches(s.chain[0].public_key()) {
        return Err(JwsSignError::KeyMismatch);
    }
    let mut crit = vec![SIGNING_SCHEME];
    let mut header = serde_json::json!({
        "alg": alg.name(),
        "cty": PAYLOAD_CONTENT_TYPE,
        SIGNING_SCHEME: SigningScheme::X509.name(),
        SIGNING_TIME: rfc3339_utc(s.signing_time),
    });
    if let Some(exp) = s.expiry {
        header[EXPIRY] = serde_json::json!(rfc3339_utc(exp));
        crit.push(EXPIRY);
    }
    header["crit"] = serde_json::json!(crit);
    let payload = serde_json::json!({"targetArtifact": {
        "digest": s.target.digest.as_str(),
        "mediaType": s.target.media_type,
        "size": s.target.size,
    }});
    let protected = B64URL.encode(header.to_string());
    let payload = B64URL.encode(payload.to_string());
    let signing_input = format!("{protected}.{payload}");
    let signature = s
        .key
        .sign(alg, signing_input.as_bytes())
        .map_err(|e| JwsSignError::Sign(e.to_string()))?;
    let x5c: Vec<String> = s
        .chain
        .iter()
        .map(|c| base64::engine::general_purpose::STANDARD.encode(c.der().as_ref()))
        .collect();
    let envelope = serde_json::json!({
        "payload": payload,
        "protected": protected,
        "header": {
            "x5c": x5c,
            "io.cncf.notary.signingAgent": concat!("nv2/", env!("CARGO_PKG_VERSION")),
        },
        "signature": B64URL.encode(signature),
    });
    Ok(envelope.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Notation's own JWS (notation-go internal/testdata, Apache-2.0; see
    /// tests/data/notation/NOTICE).
    const NOTATION_JWS: &[u8] = include_bytes!("../../tests/data/notation/jws_signature.sig");

    fn parts() -> (serde_json::Value, serde_json::Value, serde_json::Value) {
        let env: serde_json::Value = serde_json::from_slice(NOTATION_JWS).unwrap();
        let decode = |k: &str| -> serde_json::Value {
            serde_json::from_slice(&B64URL.decode(env[k].as_str().unwrap()).unwrap()).unwrap()
        };
        let (p, h) = (decode("protected"), decode("payload"));
        (env, p, h)
    }

    /// `env` with its protected header replaced by `header` (the signature
    /// no longer matches, which the parse does not look at).
    fn with_header(header: &serde_json::Value) -> Vec<u8> {
        let (mut env, _, _) = parts();
        env["protected"] = serde_json::json!(B64URL.encode(header.to_string()));
        env.to_string().into_bytes()
    }

    #[test]
    fn reads_and_verifies_notations_own_envelope() {
        let env = JwsEnvelope::parse(NOTATION_JWS).unwrap();
        assert_eq!(env.alg, Algorithm::PS256);
        assert_eq!(env.scheme, SigningScheme::X509);
        assert_eq!(
            env.target.digest.as_str(),
            "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0"
        );
        assert_eq!(env.target.size, 481);
        assert_eq!(
            env.target.media_type,
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(env.chain.len(), 1);
        assert_eq!(env.expiry, None);
        assert_eq!(env.signing_agent.as_deref(), Some("Notation/1.0.0"));
        assert_eq!(env.signing_time, 1_678_781_402);
        env.verify_integrity().unwrap();
    }

    #[test]
    fn tampering_never_verifies() {
        let (env, _, payload) = parts();
        // The payload changed (another digest), signature kept.
        let mut p = payload.clone();
        p["targetArtifact"]["size"] = serde_json::json!(482);
        let mut e = env.clone();
        e["payload"] = serde_json::json!(B64URL.encode(p.to_string()));
        let parsed = JwsEnvelope::parse(e.to_string().as_bytes()).unwrap();
        assert!(parsed.verify_integrity().is_err());
        // One bit of the signature flipped.
        let mut sig = B64URL.decode(env["signature"].as_str().unwrap()).unwrap();
        sig[10] ^= 1;
        let mut e = env.clone();
        e["signature"] = serde_json::json!(B64URL.encode(&sig));
        let parsed = JwsEnvelope::parse(e.to_string().as_bytes()).unwrap();
        assert!(matches!(
            parsed.verify_integrity(),
            Err(JwsIntegrityError::Crypto(CryptoError::Invalid))
        ));
        // The protected header with the same content, pretty-printed: other
        // bytes, so the signature no longer holds.
        let (mut e, header, _) = parts();
        e["protected"] =
            serde_json::json!(B64URL.encode(serde_json::to_string_pretty(&header).unwrap()));
        let parsed = JwsEnvelope::parse(e.to_string().as_bytes()).unwrap();
        assert!(parsed.verify_integrity().is_err());
        // The same bytes re-encoded: unchanged, still verifies (the control).
        let parsed = JwsEnvelope::parse(&with_header(&header)).unwrap();
        parsed.verify_integrity().unwrap();
    }

    #[test]
    fn the_key_fixes_the_algorithm() {
        let (_, mut header, _) = parts();
        for alg in ["PS384", "PS512"] {
            header["alg"] = serde_json::json!(alg);
            let parsed = JwsEnvelope::parse(&with_header(&header)).unwrap();
            assert!(
                matches!(
                    parsed.verify_integrity(),
                    Err(JwsIntegrityError::AlgorithmForKey { .. })
                ),
                "{alg}"
            );
        }
        for alg in ["RS256", "none", "HS256", "ps256", "ES512"] {
            header["alg"] = serde_json::json!(alg);
            assert!(
                matches!(
                    JwsEnvelope::parse(&with_header(&header)),
                    Err(JwsError::Algorithm(_))
                ),
                "{alg}"
            );
        }
    }

    #[test]
    fn header_rules_are_enforced() {
        let (_, good, _) = parts();
        let case = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut h = good.clone();
            edit(&mut h);
            JwsEnvelope::parse(&with_header(&h))
        };
        assert!(matches!(
            case(&|h| h["cty"] = "application/json".into()),
            Err(JwsError::ContentType(_))
        ));
        assert!(matches!(
            case(&|h| {
                h.as_object_mut().unwrap().remove("crit");
            }),
            Err(JwsError::CritShape)
        ));
        assert!(matches!(
            case(&|h| h["crit"] = serde_json::json!([])),
            Err(JwsError::CritShape)
        ));
        assert!(matches!(
            case(&|h| {
                h["crit"] = serde_json::json!(["io.cncf.notary.signingScheme", "x-unknown"]);
                h["x-unknown"] = 1.into();
            }),
            Err(JwsError::UnknownCritical(_))
        ));
        assert!(
            matches!(
                case(&|h| h["crit"] =
                    serde_json::json!(["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"])),
                Err(JwsError::CritShape)
            ),
            "a critical header that is absent"
        );
        assert!(matches!(
            case(&|h| h["io.cncf.notary.expiry"] = "2030-01-01T00:00:00Z".into()),
            Err(JwsError::NotCritical(EXPIRY))
        ));
        assert!(matches!(
            case(&|h| { h["crit"] = serde_json::json!(["io.cncf.notary.signingScheme", "io.cncf.notary.verificationPlugin"]); h[PLUGIN] = "acme-hsm".into(); }),
            Err(JwsError::Plugin(p)) if p == "acme-hsm"
        ));
        assert!(matches!(
            case(&|h| h[SIGNING_SCHEME] = "notary.x509.custom".into()),
            Err(JwsError::Scheme(_))
        ));
        assert!(matches!(
            case(&|h| {
                h[SIGNING_SCHEME] = "notary.x509.signingAuthority".into();
                h[AUTHENTIC_SIGNING_TIME] = h[SIGNING_TIME].take();
                h.as_object_mut().unwrap().remove(SIGNING_TIME);
            }),
            Err(JwsError::NotCritical(AUTHENTIC_SIGNING_TIME))
        ));
        // Each scheme's own time header, never the other's (attack finding).
        assert!(matches!(
            case(&|h| h[SIGNING_SCHEME] = "notary.x509.signingAuthority".into()),
            Err(JwsError::WrongTimeHeader { .. })
        ));
        assert!(matches!(
            case(&|h| h[AUTHENTIC_SIGNING_TIME] = h[SIGNING_TIME].clone()),
            Err(JwsError::WrongTimeHeader { .. })
        ));
        // RFC 3339 as written, not as a lenient parser reads it.
        for lenient in [
            "2023-03-14 16:10:02+08:00",
            "2023-03-14t16:10:02+08:00",
            "2023-03-14T08:10:02z",
            "2023-03-14T23:59:60Z",
            "2023-03-14",
        ] {
            assert!(
                matches!(
                    case(&|h| h[SIGNING_TIME] = lenient.into()),
                    Err(JwsError::Time { .. })
                ),
                "{lenient}"
            );
        }
        assert!(matches!(
            case(&|h| h[SIGNING_TIME] = "yesterday".into()),
            Err(JwsError::Time { .. })
        ));
        // A duplicate name in the protected header's bytes.
        let (mut env, _, _) = parts();
        let dup = good.to_string().replacen('{', "{\"alg\":\"ES256\",", 1);
        env["protected"] = serde_json::json!(B64URL.encode(dup));
        assert!(matches!(
            JwsEnvelope::parse(env.to_string().as_bytes()),
            Err(JwsError::DuplicateHeader(_))
        ));
    }

    #[test]
    fn unprotected_headers_are_read_leniently_but_x5c_is_required() {
        let (mut env, _, _) = parts();
        let agent = env["header"]["io.cncf.notary.signingAgent"].take();
        env["header"]["IO.CNCF.NOTARY.SIGNINGAGENT"] = agent;
        env["header"]["x-extra"] = "ignored".into();
        let parsed = JwsEnvelope::parse(env.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.signing_agent.as_deref(), Some("Notation/1.0.0"));
        parsed.verify_integrity().unwrap();
        for x5c in [
            serde_json::json!([]),
            serde_json::json!("x"),
            serde_json::json!(["!!"]),
        ] {
            let mut e = env.clone();
            e["header"]["x5c"] = x5c.clone();
            assert!(
                JwsEnvelope::parse(e.to_string().as_bytes()).is_err(),
                "{x5c}"
            );
        }
        for bad in [&b"{}"[..], b"", b"[]", b"{\"payload\":\"a\",\"protected\":\"b\",\"header\":{},\"signature\":\"c\",\"signatures\":[]}"] {
            assert!(JwsEnvelope::parse(bad).is_err());
        }
    }

    #[test]
    fn what_nv2_signs_reads_back_and_verifies() {
        use crate::signature::keygen::{KeyType, generate};
        for key_type in [KeyType::Rsa, KeyType::P256, KeyType::P384] {
            let made = generate("signer.example", key_type, 30).unwrap();
            let key =
                crate::signature::crypto::SigningKey::from_pem(made.key_pem.as_bytes()).unwrap();
            let chain = Certificate::from_pem(made.cert_pem.as_bytes()).unwrap();
            let target = TargetArtifact {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: Digest::of(b"manifest"),
                size: 8,
            };
            let now = crate::time::now();
            let bytes = sign(&JwsSigning {
                target: &target,
                key: &key,
                chain: &chain,
                signing_time: now,
                expiry: Some(now + 3600),
            })
            .unwrap();
            let env = JwsEnvelope::parse(&bytes).unwrap();
            assert_eq!(env.target, target);
            assert_eq!(env.expiry, Some(now + 3600));
            assert_eq!(env.signing_time, now);
            assert_eq!(Some(env.alg), notation_algorithm(&key.kind()));
            env.verify_integrity().unwrap();
            // Another chain than the key's: refused before signing.
            let other = generate("other", KeyType::P256, 30).unwrap();
            let other_chain = Certificate::from_pem(other.cert_pem.as_bytes()).unwrap();
            assert_eq!(
                sign(&JwsSigning {
                    target: &target,
                    key: &key,
                    chain: &other_chain,
                    signing_time: now,
                    expiry: None
                })
                .unwrap_err(),
                JwsSignError::KeyMismatch
            );
        }
    }
}
