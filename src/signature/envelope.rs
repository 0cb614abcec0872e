//! The `.nv2` signature file: parse (keeping the exact bytes of `signed`),
//! write (compact, fixed key order), sign and co-sign.
//!
//! Signatures are over the bytes of `signed` exactly as they stand in the
//! file. Those bytes are kept raw and never re-serialised, so a pretty-printed
//! or otherwise rewritten copy no longer verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::oci::digest::Digest;
use crate::signature::cert::Certificate;
use crate::signature::crypto::{Algorithm, KeyError, SigningKey};
use crate::text::short_line as one_line;

/// The signed claims: what is signed, and when it is valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedContent {
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exp: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nbf: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iat: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// One signature entry, as it stands in the file. Fields are decoded at
/// verification so that a bad entry fails alone, with its own reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureEntry {
    pub typ: String,
    pub sig: String,
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
}

/// Why one `x5c` entry is not a certificate.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum X5cError {
    #[error("x5c[{index}] is not valid base64: {reason}")]
    NotBase64 { index: usize, reason: String },
    #[error("x5c[{index}]: {reason}")]
    BadCertificate { index: usize, reason: String },
}

/// Decodes the `x5c` entry at `index` (base64 DER, not base64url).
pub(crate) fn x5c_certificate(index: usize, b64: &str) -> Result<Certificate, X5cError> {
    let der = decode_base64(b64).map_err(|e| X5cError::NotBase64 {
        index,
        reason: e.to_string(),
    })?;
    Certificate::from_der(der).map_err(|e| X5cError::BadCertificate {
        index,
        reason: e.to_string(),
    })
}

/// A parsed `.nv2` file.
#[derive(Clone, Debug)]
pub struct Envelope {
    signed_raw: Box<RawValue>,
    signed: SignedContent,
    digest: Digest,
    signatures: Vec<SignatureEntry>,
}

/// Why a signature file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("signature file is empty")]
    Empty,
    #[error("signature file is not valid JSON: {0}")]
    Json(String),
    #[error("signature file has no \"signed\" object")]
    MissingSigned,
    #[error("signature file has no \"signatures\"")]
    MissingSignatures,
    #[error("signature file has both \"signatures\" and the prototype's \"signature\"")]
    BothForms,
    #[error("signature file has an empty \"signatures\" list")]
    NoSignatures,
    #[error("\"signed\" is malformed: {0}")]
    Signed(String),
    #[error("\"signed.digest\": {0}")]
    Digest(String),
}

#[derive(Deserialize)]
struct RawEnvelope {
    signed: Option<Box<RawValue>>,
    signatures: Option<Vec<SignatureEntry>>,
    /// The 2020 prototype's single signature object.
    signature: Option<SignatureEntry>,
}

#[derive(Serialize)]
struct OutEnvelope<'a> {
    signed: &'a RawValue,
    signatures: &'a [SignatureEntry],
}

impl Envelope {
    /// Parses a signature file; the 2020 prototype's `"signature": {…}` is read
    /// as a one-element `signatures`.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(EnvelopeError::Empty);
        }
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(one_line(e)))?;
        let signed_raw = raw.signed.ok_or(EnvelopeError::MissingSigned)?;
        let signatures = match (raw.signatures, raw.signature) {
            (Some(_), Some(_)) => return Err(EnvelopeError::BothForms),
            (Some(list), None) => list,
            (None, Some(one)) => vec![one],
            (None, None) => return Err(EnvelopeError::MissingSignatures),
        };
        if signatures.is_empty() {
            return Err(EnvelopeError::NoSignatures);
        }
        let signed: SignedContent = serde_json::from_str(signed_raw.get())
            .map_err(|e| EnvelopeError::Signed(one_line(e)))?;
        let digest =
            Digest::parse(&signed.digest).map_err(|e| EnvelopeError::Digest(e.to_string()))?;
        Ok(Envelope {
            signed_raw,
            signed,
            digest,
            signatures,
        })
    }

    /// The exact bytes the signatures are over.
    pub fn signed_bytes(&self) -> &[u8] {
        self.signed_raw.get().as_bytes()
    }

    pub fn signed(&self) -> &SignedContent {
        &self.signed
    }

    /// `signed.digest`, validated.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn signatures(&self) -> &[SignatureEntry] {
        &self.signatures
    }

    /// The compact file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let out = OutEnvelope {
            signed: &self.signed_raw,
            signatures: &self.signatures,
        };
        // Serialising plain strings and a RawValue cannot fail.
        serde_json::to_vec(&out).unwrap_or_default()
    }

    /// Signs `content` with `key` and starts a new envelope.
    pub fn sign(content: &SignedContent, signer: &Signer) -> Result<Self, SignError> {
        let digest =
            Digest::parse(&content.digest).map_err(|e| SignError::Content(e.to_string()))?;
        let json = serde_json::to_string(content).map_err(|e| SignError::Content(e.to_string()))?;
        let signed_raw =
            RawValue::from_string(json).map_err(|e| SignError::Content(e.to_string()))?;
        let entry = signer.sign_entry(signed_raw.get().as_bytes())?;
        Ok(Envelope {
            signed_raw,
            signed: content.clone(),
            digest,
            signatures: vec![entry],
        })
    }

    /// Adds a co-signature over the exact `signed` bytes already in the file.
    pub fn append(&mut self, signer: &Signer) -> Result<(), SignError> {
        let entry = signer.sign_entry(self.signed_bytes())?;
        self.signatures.push(entry);
        Ok(())
    }
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("invalid signed content: {0}")]
    Content(String),
}

/// A key and what identifies it in the file: its certificate chain (`x5c`)
/// or, without one, its key id (`kid`).
pub struct Signer {
    key: SigningKey,
    alg: Algorithm,
    identity: SignerIdentity,
}

enum SignerIdentity {
    Kid(String),
    Chain(Vec<Certificate>),
}

impl Signer {
    /// A signer identified by `kid`, computed from the key's own public key.
    pub fn with_key_id(key: SigningKey, alg: Algorithm, spki_der: &[u8]) -> Self {
        Signer {
            key,
            alg,
            identity: SignerIdentity::Kid(crate::signature::crypto::key_id(spki_der)),
        }
    }

    /// A signer that embeds `chain` (leaf first) as `x5c`.
    pub fn with_chain(key: SigningKey, alg: Algorithm, chain: Vec<Certificate>) -> Self {
        Signer {
            key,
            alg,
            identity: SignerIdentity::Chain(chain),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn sign_entry(&self, signed: &[u8]) -> Result<SignatureEntry, SignError> {
        let sig = self.key.sign(self.alg, signed)?;
        let (kid, x5c) = match &self.identity {
            SignerIdentity::Kid(kid) => (Some(kid.clone()), None),
            SignerIdentity::Chain(chain) => (
                None,
                Some(chain.iter().map(|c| B64.encode(c.der())).collect()),
            ),
        };
        Ok(SignatureEntry {
            typ: "x509".into(),
            sig: B64.encode(sig),
            alg: self.alg.name().into(),
            kid,
            x5c,
        })
    }
}

/// Standard base64 with padding, strictly.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64.decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"signed":{"digest":"sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55","size":528,"iat":1595562742},"signatures":[{"typ":"x509","sig":"AAAA","alg":"RS256","kid":"DD2E:DW7J:OVJK:KCZR:2PGY:SYC5:WFJF:RMMV:FH6W:VGYM:2WW4:7ZGC"}]}"#;

    #[test]
    fn keeps_signed_bytes_exactly_and_round_trips() {
        let env = Envelope::parse(SEED.as_bytes()).unwrap();
        assert_eq!(
            env.signed_bytes(),
            br#"{"digest":"sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55","size":528,"iat":1595562742}"#
        );
        assert_eq!(env.signed().size, 528);
        assert_eq!(env.to_bytes(), SEED.as_bytes());
    }

    #[test]
    fn serialises_signed_in_prototype_key_order_without_zero_fields() {
        let c = SignedContent {
            digest: "sha256:aa".into(),
            size: 1,
            references: vec!["r".into()],
            exp: 3,
            nbf: 0,
            iat: 2,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"digest":"sha256:aa","size":1,"references":["r"],"exp":3,"iat":2}"#
        );
    }

    #[test]
    fn reads_the_prototype_single_signature_form() {
        let proto = SEED
            .replace("\"signatures\":[", "\"signature\":")
            .replace("}]}", "}}");
        let env = Envelope::parse(proto.as_bytes()).unwrap();
        assert_eq!(env.signatures().len(), 1);
    }

    #[test]
    fn rejects_malformed_files() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("  \n", "empty"),
            ("not json", "not valid JSON"),
            ("[]", "not valid JSON"),
            (r#"{"signatures":[]}"#, "no \"signed\""),
            (
                r#"{"signed":{"digest":"sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55","size":1}}"#,
                "no \"signatures\"",
            ),
            (
                r#"{"signed":{"digest":"sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55","size":1},"signatures":[]}"#,
                "empty \"signatures\"",
            ),
            (
                r#"{"signed":{"digest":"sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55","size":"1"},"signatures":[{"typ":"x509","sig":"","alg":"RS256"}]}"#,
                "\"signed\" is malformed",
            ),
            (
                r#"{"signed":{"size":1},"signatures":[{"typ":"x509","sig":"","alg":"RS256"}]}"#,
                "\"signed\" is malformed",
            ),
            (
                r#"{"signed":"x","signatures":[{"typ":"x509","sig":"","alg":"RS256"}]}"#,
                "\"signed\" is malformed",
            ),
            (
                r#"{"signed":{"digest":"sha256:ABC","size":1},"signatures":[{"typ":"x509","sig":"","alg":"RS256"}]}"#,
                "signed.digest",
            ),
            (
                r#"{"signed":{"digest":"sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55","size":1},"signatures":[{"typ":1,"sig":"","alg":"RS256"}]}"#,
                "not valid JSON",
            ),
            (
                r#"{"signed":{"digest":"sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55","size":1},"signatures":{}}"#,
                "not valid JSON",
            ),
        ];
        for (input, want) in cases {
            let err = Envelope::parse(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
