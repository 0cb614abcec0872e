//! Trust material: pinned certificates (trusted for their key alone) and CA
//! roots (trusted to issue), and certificate path validation with webpki.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};

use crate::signature::cert::Certificate;
use crate::signature::crypto::PublicKey;

/// The signature algorithms accepted inside certificate chains.
static CHAIN_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
];

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER contents of the OID.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Certificates a verification may trust, each for exactly one role.
#[derive(Debug, Default)]
pub struct TrustMaterial {
    /// Trusted for their keys alone: never issuers.
    pinned: Vec<Certificate>,
    /// Chain anchors: CA certificates allowed to issue.
    roots: Vec<Root>,
}

#[derive(Debug)]
struct Root {
    cert: Certificate,
    anchor: TrustAnchor<'static>,
}

/// Why certificates cannot be trusted material, or a chain is not trusted.
/// Every variant is one line naming the certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error(
        "certificate {subject:?} cannot be a CA root: it is not a CA (basicConstraints CA:TRUE, and keyCertSign when key usage is present); trust it as a signing certificate instead"
    )]
    NotACa { subject: String },
    #[error("CA certificate {subject:?} cannot be a trust anchor: {reason}")]
    BadAnchor { subject: String, reason: String },
    #[error("empty certificate chain")]
    EmptyChain,
    #[error(
        "x5c is not an ordered chain: x5c[{}] ({next:?}) is not the issuer of x5c[{index}] ({subject:?})",
        index + 1
    )]
    NotOrdered {
        index: usize,
        subject: String,
        next: String,
    },
    #[error("x5c holds two certificates named {subject:?}; each subject may appear once")]
    SubjectTwice { subject: String },
    #[error("certificate {subject:?} is not pinned and no CA certificate is trusted")]
    NoRoots { subject: String },
    #[error(
        "certificate chain of {subject:?} is not trusted: no trusted CA certificate is valid now"
    )]
    NoValidRoot { subject: String },
    #[error("certificate {subject:?}: {reason}")]
    BadLeaf { subject: String, reason: String },
    #[error("certificate chain of {subject:?} is not trusted: {reason}")]
    Untrusted { subject: String, reason: String },
}

/// What a validated chain adds to the leaf's own facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainFacts {
    /// Whether a CA of the path (anchor included) constrains names: the
    /// leaf's CN must then not stand in for a SAN.
    pub name_constrained: bool,
    /// The earliest expiry of the path's certificates (leaf, intermediates,
    /// anchor): a pass never outlives any of them.
    pub not_after: i64,
}

impl TrustMaterial {
    /// `pinned` certificates are trusted for their keys; `roots` are anchors
    /// for `x5c` chains and must be CA certificates (basicConstraints CA:TRUE,
    /// keyCertSign where a key usage is present). A root's validity is
    /// checked at each verification.
    pub fn new(pinned: Vec<Certificate>, roots: Vec<Certificate>) -> Result<Self, TrustError> {
        let mut out = Vec::with_capacity(roots.len());
        for cert in roots {
            if !cert.may_issue() {
                return Err(TrustError::NotACa {
                    subject: cert.subject().to_owned(),
                });
            }
            let anchor = webpki::anchor_from_trusted_cert(cert.der())
                .map_err(|e| TrustError::BadAnchor {
                    subject: cert.subject().to_owned(),
                    reason: format!("{e:?}"),
                })?
                .to_owned();
            out.push(Root { cert, anchor });
        }
        Ok(TrustMaterial { pinned, roots: out })
    }

    /// Store certificates, with the role their extensions give them: a CA
    /// certificate is a chain anchor (never a signing key); any other is a
    /// signing certificate trusted for its key (never an issuer, so its key
    /// cannot mint a leaf with another subject or validity). A CA that may
    /// not issue (key usage without keyCertSign) can do neither and is refused.
    pub fn from_store_certificates(certs: Vec<Certificate>) -> Result<Self, TrustError> {
        let (roots, pinned): (Vec<_>, Vec<_>) = certs.into_iter().partition(|c| c.is_ca());
        TrustMaterial::new(pinned, roots)
    }

    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty() && self.roots.is_empty()
    }

    pub fn pinned(&self) -> &[Certificate] {
        &self.pinned
    }

    /// The CA roots.
    pub fn roots(&self) -> impl Iterator<Item = &Certificate> {
        self.roots.iter().map(|r| &r.cert)
    }

    /// The pinned certificate whose libtrust key id is `kid`.
    pub fn pinned_by_kid(&self, kid: &str) -> Option<&Certificate> {
        self.pinned.iter().find(|c| c.key_id() == kid)
    }

    /// The pinned certificate holding `key`.
    pub fn pinned_by_key(&self, key: &PublicKey) -> Option<&Certificate> {
        self.pinned.iter().find(|c| c.public_key() == key)
    }

    /// Whether `chain` could lead to one of the roots at all: its last
    /// certificate is a root or was issued under a root's name. A cheap test
    /// (no cryptography) that lets hostile signatures fail before they cost
    /// path building.
    pub fn may_lead_to_root(&self, chain: &[Certificate]) -> bool {
        chain.last().is_some_and(|top| {
            self.roots
                .iter()
                .any(|r| top.names_issuer(&r.cert) || top.same_subject(&r.cert))
        })
    }

    /// Validates `chain` (leaf first, each certificate issued by the next) to
    /// one of the roots valid at `now`: issuer signatures, validity periods,
    /// CA:TRUE and keyCertSign on issuers, name constraints, and the
    /// codeSigning extended key usage when the leaf names any.
    ///
    /// Path building is kept linear: the chain must be ordered and no two of
    /// its certificates may share a subject, so each step has one candidate.
    // Over 60 lines: path validation and the per-certificate constraints webpki does not check, in one pass.
    pub fn verify_chain(&self, chain: &[Certificate], now: i64) -> Result<ChainFacts, TrustError> {
        let leaf = chain.first().ok_or(TrustError::EmptyChain)?;
        check_chain_shape(chain)?;
        let subject = || leaf.subject().to_owned();
        let anchors: Vec<TrustAnchor<'_>> = self
            .roots
            .iter()
            .filter(|r| r.cert.check_validity(now).is_ok())
            .map(|r| r.anchor.clone())
            .collect();
        if anchors.is_empty() {
            return Err(if self.roots.is_empty() {
                TrustError::NoRoots { subject: subject() }
            } else {
                TrustError::NoValidRoot { subject: subject() }
            });
        }
        let ee = webpki::EndEntityCert::try_from(leaf.der()).map_err(|e| TrustError::BadLeaf {
            subject: subject(),
            reason: webpki_reason(&e),
        })?;
        let intermediates: Vec<CertificateDer<'static>> =
            chain[1..].iter().map(|c| c.der().clone()).collect();
        let time = UnixTime::since_unix_epoch(Duration::from_secs(now.max(0) as u64));
        let untrusted = |reason: String| TrustError::Untrusted {
            subject: subject(),
            reason,
        };
        let path = ee
            .verify_for_usage(
                CHAIN_ALGS,
                &anchors,
                &intermediates,
                time,
                webpki::KeyUsage::required_if_present(CODE_SIGNING),
                None,
                None,
            )
            .map_err(|e| untrusted(webpki_reason(&e)))?;
        let mut facts = ChainFacts {
            name_constrained: path.anchor().name_constraints.is_some(),
            not_after: leaf.not_after(),
        };
        let mut intermediates = 0u32;
        for der in path.intermediate_certificates().map(|c| c.der()) {
            intermediates += 1;
            let cert = chain[1..]
                .iter()
                .find(|c| c.der().as_ref() == der.as_ref())
                .ok_or_else(|| untrusted("an issuer outside the chain was used".into()))?;
            if !cert.may_issue() {
                return Err(untrusted(format!(
                    "issuer {:?} has a key usage without keyCertSign",
                    cert.subject()
                )));
            }
            if !cert.allows_code_signing() {
                return Err(untrusted(format!(
                    "issuer {:?} has an extended key usage without codeSigning",
                    cert.subject()
                )));
            }
            facts.name_constrained |= cert.is_name_constrained();
            facts.not_after = facts.not_after.min(cert.not_after());
        }
        let anchor = path.anchor();
        // Every trusted root with this name and key: one certificate may have
        // been re-issued with other constraints, and the strictest holds.
        let matching: Vec<&Root> = self
            .roots
            .iter()
            .filter(|r| {
                r.anchor.subject.as_ref() == anchor.subject.as_ref()
                    && r.anchor.subject_public_key_info.as_ref()
                        == anchor.subject_public_key_info.as_ref()
            })
            .collect();
        if matching.is_empty() {
            return Err(untrusted("the anchor used is not a trusted root".into()));
        }
        for root in matching {
            // webpki applies pathLenConstraint to intermediates, not to the
            // anchor: a root allowing no sub-CA must not anchor one.
            if let Some(limit) = root.cert.path_len()
                && intermediates > limit
            {
                return Err(untrusted(format!(
                    "CA certificate {:?} allows {limit} intermediate CA(s) below it (pathLenConstraint), the chain has {intermediates}",
                    root.cert.subject()
                )));
            }
            if !root.cert.allows_code_signing() {
                return Err(untrusted(format!(
                    "CA certificate {:?} has an extended key usage without codeSigning",
                    root.cert.subject()
                )));
            }
            facts.not_after = facts.not_after.min(root.cert.not_after());
        }
        Ok(facts)
    }
}

/// An `x5c` chain must be ordered (each certificate issued under the next
/// one's name) with distinct subjects. Several certificates of one name would
/// let path building explore every combination of them.
fn check_chain_shape(chain: &[Certificate]) -> Result<(), TrustError> {
    for (i, pair) in chain.windows(2).enumerate() {
        if !pair[0].names_issuer(&pair[1]) {
            return Err(TrustError::NotOrdered {
                index: i,
                subject: pair[0].subject().to_owned(),
                next: pair[1].subject().to_owned(),
            });
        }
    }
    for (i, a) in chain.iter().enumerate() {
        if chain[..i].iter().any(|b| b.same_subject(a)) {
            return Err(TrustError::SubjectTwice {
                subject: a.subject().to_owned(),
            });
        }
    }
    Ok(())
}

/// webpki's errors in words.
fn webpki_reason(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => "it does not lead to a trusted CA certificate".into(),
        E::CertExpired { .. } => "a certificate in the chain has expired".into(),
        E::CertNotValidYet { .. } => "a certificate in the chain is not valid yet".into(),
        E::CaUsedAsEndEntity => "the signing certificate is a CA certificate".into(),
        E::EndEntityUsedAsCa => "an issuer in the chain is not a CA (no CA:TRUE)".into(),
        E::InvalidSignatureForPublicKey => {
            "an issuer's signature on a certificate is invalid".into()
        }
        E::RequiredEkuNotFoundContext(_) => {
            "the signing certificate's extended key usage does not allow code signing".into()
        }
        E::BadDer | E::BadDerTime | E::TrailingData(_) => "malformed certificate".into(),
        E::MaximumPathDepthExceeded | E::MaximumPathBuildCallsExceeded => {
            "the chain is too long or has too many candidate paths".into()
        }
        E::MaximumSignatureChecksExceeded => "the chain needs too many signature checks".into(),
        E::PathLenConstraintViolated => {
            "a CA's pathLenConstraint does not allow the chain's length".into()
        }
        E::UnsupportedCriticalExtension => {
            "a certificate in the chain has a critical extension nv2 does not understand".into()
        }
        E::MaximumNameConstraintComparisonsExceeded => {
            "the chain's name constraints need too many comparisons".into()
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate in the chain is signed with an algorithm or key nv2 does not support"
                .into()
        }
        E::NameConstraintViolation => "a name in the chain breaks a CA's name constraints".into(),
        // Other errors by their name only: never a dump of their contents.
        other => {
            let name = format!("{other:?}");
            let name = name
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("unknown")
                .to_owned();
            format!("the chain is invalid ({name})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::webpki_reason;

    /// webpki's errors are told in words, never as a dump of their fields
    /// (found by attacking the binary: byte lists reached messages).
    #[test]
    fn chain_errors_are_words() {
        use webpki::Error as E;
        for e in [
            E::MaximumPathDepthExceeded,
            E::PathLenConstraintViolated,
            E::UnsupportedCriticalExtension,
            E::MaximumNameConstraintComparisonsExceeded,
            E::NameConstraintViolation,
            E::InvalidCertValidity,
        ] {
            let said = webpki_reason(&e);
            assert!(!said.contains('[') && !said.contains('{'), "{said}");
            assert!(said.contains(' '), "{said}");
        }
        assert_eq!(
            webpki_reason(&E::InvalidCertValidity),
            "the chain is invalid (InvalidCertValidity)"
        );
    }
}
