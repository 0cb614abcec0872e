//! Signature algorithms, public keys and signing keys, all on aws-lc-rs.
//!
//! The one rule this module exists to enforce: the `alg` named in a signature
//! never chooses a verifier for a key of another type or size. The key's own
//! type decides what can verify it; `alg` only has to agree.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The JWS algorithm names nv2 signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
}

impl Algorithm {
    pub const ALL: [Algorithm; 8] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
    ];

    /// Parses a JWS `alg` name; `none` and anything unknown are refused.
    pub fn parse(name: &str) -> Option<Self> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
        }
    }

    fn is_rsa(self) -> bool {
        !matches!(self, Algorithm::ES256 | Algorithm::ES384)
    }

    /// Whether this algorithm may be used with `key`; the key type decides.
    pub fn fits(self, key: &KeyKind) -> bool {
        match (self, key) {
            (Algorithm::ES256, KeyKind::EcP256) | (Algorithm::ES384, KeyKind::EcP384) => true,
            (a, KeyKind::Rsa { bits }) => a.is_rsa() && (2048..=8192).contains(bits),
            _ => false,
        }
    }

    /// The signature length this algorithm produces with `key`.
    fn signature_len(self, key: &KeyKind) -> usize {
        match key {
            KeyKind::Rsa { bits } => bits.div_ceil(8),
            KeyKind::EcP256 => 64,
            KeyKind::EcP384 => 96,
            KeyKind::Unsupported(_) => 0,
        }
    }

    fn verification(self) -> &'static dyn sig::VerificationAlgorithm {
        match self {
            Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        }
    }

    fn rsa_encoding(self) -> Option<&'static dyn sig::RsaEncoding> {
        Some(match self {
            Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
            Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
            Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
            Algorithm::PS256 => &sig::RSA_PSS_SHA256,
            Algorithm::PS384 => &sig::RSA_PSS_SHA384,
            Algorithm::PS512 => &sig::RSA_PSS_SHA512,
            Algorithm::ES256 | Algorithm::ES384 => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An algorithm name nv2 does not sign or verify with.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error(
    "unsupported algorithm {0:?}: expected RS256, RS384, RS512, PS256, PS384, PS512, ES256 or ES384"
)]
pub struct UnsupportedAlgorithm(String);

impl std::str::FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;
    fn from_str(s: &str) -> Result<Self, UnsupportedAlgorithm> {
        Algorithm::parse(s).ok_or_else(|| UnsupportedAlgorithm(crate::oci::digest::shorten(s)))
    }
}

/// The type and size of a public key, as far as nv2 cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa { bits: usize },
    EcP256,
    EcP384,
    Unsupported(String),
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::EcP256 => f.write_str("EC P-256"),
            KeyKind::EcP384 => f.write_str("EC P-384"),
            KeyKind::Unsupported(what) => write!(f, "unsupported ({what})"),
        }
    }
}

/// A public key taken from a certificate's SubjectPublicKeyInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    /// The subjectPublicKey bits: PKCS#1 RSAPublicKey, or the EC point.
    raw: Vec<u8>,
    /// The whole SubjectPublicKeyInfo DER: what key ids are computed over.
    spki_der: Vec<u8>,
}

/// Why a signature does not verify at the cryptographic level.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("algorithm {alg} does not fit the signer's {key} key")]
    AlgorithmMismatch { alg: Algorithm, key: KeyKind },
    #[error("signature is {got} bytes; {alg} with a {key} key makes {want}")]
    WrongLength {
        alg: Algorithm,
        key: KeyKind,
        got: usize,
        want: usize,
    },
    #[error("signature does not verify over the signed content with the signer's key")]
    Invalid,
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

impl PublicKey {
    /// Builds from x509-parser's view of a SubjectPublicKeyInfo.
    pub fn from_parsed(spki: &SubjectPublicKeyInfo<'_>) -> Self {
        let raw = spki.subject_public_key.data.to_vec();
        let oid = spki.algorithm.algorithm.to_id_string();
        let kind = match oid.as_str() {
            OID_RSA => match rsa_modulus_bits(&spki.subject_public_key.data) {
                Some(bits) => KeyKind::Rsa { bits },
                None => KeyKind::Unsupported("malformed RSA key".into()),
            },
            OID_EC => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                match curve.as_deref() {
                    Some(OID_P256) => KeyKind::EcP256,
                    Some(OID_P384) => KeyKind::EcP384,
                    Some(other) => KeyKind::Unsupported(format!("EC curve {other}")),
                    None => KeyKind::Unsupported("EC key without a named curve".into()),
                }
            }
            other => KeyKind::Unsupported(format!("algorithm {other}")),
        };
        PublicKey {
            kind,
            raw,
            spki_der: spki.raw.to_vec(),
        }
    }

    pub fn kind(&self) -> &KeyKind {
        &self.kind
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The libtrust key id of this key (see [`key_id`]).
    pub fn key_id(&self) -> String {
        key_id(&self.spki_der)
    }

    /// Verifies `signature` over `message` with `alg`, which must fit this key.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if !alg.fits(&self.kind) {
            return Err(CryptoError::AlgorithmMismatch {
                alg,
                key: self.kind.clone(),
            });
        }
        let want = alg.signature_len(&self.kind);
        if signature.len() != want {
            return Err(CryptoError::WrongLength {
                alg,
                key: self.kind.clone(),
                got: signature.len(),
                want,
            });
        }
        UnparsedPublicKey::new(alg.verification(), &self.raw)
            .verify(message, signature)
            .map_err(|_| CryptoError::Invalid)
    }
}

/// Bit length of the modulus of a PKCS#1 RSAPublicKey.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let (_, key) = x509_parser::public_key::RSAPublicKey::from_der(pkcs1).ok()?;
    let modulus = key.modulus;
    let first = modulus.iter().position(|&b| b != 0)?;
    let significant = &modulus[first..];
    Some((significant.len() - 1) * 8 + (8 - significant[0].leading_zeros() as usize))
}

/// The libtrust key id: SHA-256 of the DER SubjectPublicKeyInfo, first 30
/// bytes, base32 without padding (48 characters), in 12 groups of 4 joined by `:`.
pub(crate) fn key_id(spki_der: &[u8]) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    let b32 = data_encoding::BASE32_NOPAD.encode(&hash.as_ref()[..30]);
    let mut out = String::with_capacity(59);
    for (i, chunk) in b32.as_bytes().chunks(4).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out
}

/// A private key that can sign: RSA (≥ 2048 bits) or ECDSA P-256/P-384.
pub enum SigningKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, KeyKind),
}

impl fmt::Debug for SigningKey {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.kind())
    }
}

/// Why a private key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no private key found in PEM (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )]
    NoKey,
    #[error("RSA key is {0} bits; at least 2048 are required")]
    RsaTooSmall(usize),
    #[error("unsupported or malformed private key: {0}")]
    Unsupported(String),
    #[error("algorithm {alg} does not fit a {key} key")]
    AlgorithmMismatch { alg: Algorithm, key: KeyKind },
    #[error("signing failed")]
    SignFailed,
}

impl SigningKey {
    /// Reads a PEM private key: PKCS#8, PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| KeyError::NoKey)?;
        match der {
            PrivateKeyDer::Pkcs8(k) => Self::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => Self::rsa(
                RsaKeyPair::from_der(k.secret_pkcs1_der()),
                k.secret_pkcs1_der(),
            ),
            PrivateKeyDer::Sec1(k) => {
                let der = k.secret_sec1_der();
                if let Ok(kp) =
                    EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                {
                    return Ok(SigningKey::Ec(kp, KeyKind::EcP256));
                }
                EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, der)
                    .map(|kp| SigningKey::Ec(kp, KeyKind::EcP384))
                    .map_err(|e| {
                        KeyError::Unsupported(format!(
                            "EC key: {e} (P-256 and P-384 are supported)"
                        ))
                    })
            }
            _ => Err(KeyError::NoKey),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(kp) = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            return Ok(SigningKey::Ec(kp, KeyKind::EcP256));
        }
        if let Ok(kp) = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, der) {
            return Ok(SigningKey::Ec(kp, KeyKind::EcP384));
        }
        Self::rsa(RsaKeyPair::from_pkcs8(der), der)
    }

    fn rsa(
        parsed: Result<RsaKeyPair, aws_lc_rs::error::KeyRejected>,
        der: &[u8],
    ) -> Result<Self, KeyError> {
        match parsed {
            Ok(kp) => {
                let bits = kp.public_modulus_len() * 8;
                if bits < 2048 {
                    return Err(KeyError::RsaTooSmall(bits));
                }
                Ok(SigningKey::Rsa(kp))
            }
            Err(e) => {
                // aws-lc-rs refuses small keys outright; say how small.
                if let Some(bits) = small_rsa_bits(der) {
                    return Err(KeyError::RsaTooSmall(bits));
                }
                Err(KeyError::Unsupported(e.to_string()))
            }
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            SigningKey::Rsa(kp) => KeyKind::Rsa {
                bits: kp.public_modulus_len() * 8,
            },
            SigningKey::Ec(_, kind) => kind.clone(),
        }
    }

    /// The algorithm used when none is asked for: RS256 for RSA (as the 2020
    /// prototype), ES256/ES384 for EC keys.
    pub fn default_algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Rsa(_) => Algorithm::RS256,
            SigningKey::Ec(_, KeyKind::EcP384) => Algorithm::ES384,
            SigningKey::Ec(..) => Algorithm::ES256,
        }
    }

    /// The public key bits, in the same form as a certificate's subjectPublicKey.
    pub fn public_key_raw(&self) -> &[u8] {
        match self {
            SigningKey::Rsa(kp) => kp.public_key().as_ref(),
            SigningKey::Ec(kp, _) => kp.public_key().as_ref(),
        }
    }

    /// The DER SubjectPublicKeyInfo of this key's public half (for its key id).
    pub fn spki_der(&self) -> Result<Vec<u8>, KeyError> {
        use aws_lc_rs::encoding::AsDer;
        let der = match self {
            SigningKey::Rsa(kp) => kp.public_key().as_der().map(|d| d.as_ref().to_vec()),
            SigningKey::Ec(kp, _) => kp.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        der.map_err(|_| KeyError::Unsupported("cannot encode the public key".into()))
    }

    /// Whether this private key belongs to `public`.
    pub fn matches(&self, public: &PublicKey) -> bool {
        public.kind == self.kind() && public.raw == self.public_key_raw()
    }

    /// Signs `message` with `alg`, which must fit the key.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let kind = self.kind();
        if !alg.fits(&kind) {
            return Err(KeyError::AlgorithmMismatch { alg, key: kind });
        }
        let rng = SystemRandom::new();
        match self {
            SigningKey::Rsa(kp) => {
                let encoding = alg.rsa_encoding().ok_or(KeyError::SignFailed)?;
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign(encoding, &rng, message, &mut out)
                    .map_err(|_| KeyError::SignFailed)?;
                Ok(out)
            }
            SigningKey::Ec(kp, _) => kp
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::SignFailed),
        }
    }
}

/// The modulus size of an RSA private key too small for aws-lc-rs to load.
fn small_rsa_bits(der: &[u8]) -> Option<usize> {
    // PKCS#1 RSAPrivateKey ::= SEQUENCE { version, modulus, ... }; PKCS#8 wraps it.
    use x509_parser::der_parser::ber::BerObjectContent;
    use x509_parser::der_parser::der::parse_der;
    let (_, obj) = parse_der(der).ok()?;
    let items = match obj.content {
        BerObjectContent::Sequence(items) => items,
        _ => return None,
    };
    // PKCS#8: SEQUENCE { version, AlgorithmIdentifier, OCTET STRING(RSAPrivateKey) }
    if let Some(BerObjectContent::OctetString(inner)) = items.get(2).map(|o| &o.content) {
        return small_rsa_bits(inner);
    }
    let modulus = items.get(1)?.as_biguint().ok()?;
    Some(modulus.bits() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_and_none_is_refused() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(a.name()), Some(a));
        }
        assert_eq!(Algorithm::parse("none"), None);
        assert_eq!(Algorithm::parse("HS256"), None);
        assert_eq!(Algorithm::parse("rs256"), None);
    }

    #[test]
    fn algorithms_fit_only_their_key_types() {
        let rsa = KeyKind::Rsa { bits: 2048 };
        assert!(Algorithm::RS256.fits(&rsa));
        assert!(Algorithm::PS512.fits(&rsa));
        assert!(!Algorithm::ES256.fits(&rsa));
        assert!(!Algorithm::RS256.fits(&KeyKind::Rsa { bits: 1024 }));
        assert!(Algorithm::ES256.fits(&KeyKind::EcP256));
        assert!(!Algorithm::ES256.fits(&KeyKind::EcP384));
        assert!(!Algorithm::ES384.fits(&KeyKind::EcP256));
        assert!(!Algorithm::RS256.fits(&KeyKind::EcP256));
    }
}
