//! Trust material: pinned certificates (trusted for their key alone) and CA
//! roots (trusted to issue), and certificate path validation with webpki.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};

use crate::cert::Certificate;
use crate::crypto::PublicKey;

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

/// Certificates a verification may trust.
#[derive(Debug, Default)]
pub struct TrustMaterial {
    pinned: Vec<Certificate>,
    roots: Vec<Certificate>,
    anchors: Vec<TrustAnchor<'static>>,
}

impl TrustMaterial {
    /// `pinned` certificates are trusted for their keys (a self-signed one is
    /// its own anchor); `roots` are anchors for `x5c` chains.
    pub fn new(pinned: Vec<Certificate>, roots: Vec<Certificate>) -> Result<Self, String> {
        let mut anchors = Vec::with_capacity(roots.len());
        for root in &roots {
            let anchor = webpki::anchor_from_trusted_cert(root.der()).map_err(|e| {
                format!(
                    "CA certificate {:?} cannot be a trust anchor: {e:?}",
                    root.subject()
                )
            })?;
            anchors.push(anchor.to_owned());
        }
        Ok(TrustMaterial {
            pinned,
            roots,
            anchors,
        })
    }

    /// Store certificates, as Notation trust stores are: each is both a pinned
    /// key and a root for chains.
    pub fn from_store_certificates(certs: Vec<Certificate>) -> Result<Self, String> {
        let roots = certs
            .iter()
            .filter(|c| c.is_ca() || c.is_self_signed())
            .cloned()
            .collect();
        TrustMaterial::new(certs, roots)
    }

    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty() && self.roots.is_empty()
    }

    pub fn pinned(&self) -> &[Certificate] {
        &self.pinned
    }

    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }

    /// The pinned certificate whose libtrust key id is `kid`.
    pub fn pinned_by_kid(&self, kid: &str) -> Option<&Certificate> {
        self.pinned.iter().find(|c| c.key_id() == kid)
    }

    /// The pinned certificate holding `key`.
    pub fn pinned_by_key(&self, key: &PublicKey) -> Option<&Certificate> {
        self.pinned.iter().find(|c| c.public_key() == key)
    }

    /// Validates `chain` (leaf first) to one of the roots at time `now`:
    /// issuer signatures, validity periods, CA:TRUE on issuers, and the
    /// codeSigning extended key usage when the leaf names any.
    pub fn verify_chain(&self, chain: &[Certificate], now: i64) -> Result<(), String> {
        let leaf = chain.first().ok_or("empty certificate chain")?;
        if self.anchors.is_empty() {
            return Err(format!(
                "certificate {:?} is not pinned and no CA certificate is trusted",
                leaf.subject()
            ));
        }
        let ee = webpki::EndEntityCert::try_from(leaf.der())
            .map_err(|e| format!("certificate {:?}: {}", leaf.subject(), webpki_reason(&e)))?;
        let intermediates: Vec<CertificateDer<'static>> =
            chain[1..].iter().map(|c| c.der().clone()).collect();
        let time = UnixTime::since_unix_epoch(Duration::from_secs(now.max(0) as u64));
        ee.verify_for_usage(
            CHAIN_ALGS,
            &self.anchors,
            &intermediates,
            time,
            webpki::KeyUsage::required_if_present(CODE_SIGNING),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| {
            format!(
                "certificate chain of {:?} is not trusted: {}",
                leaf.subject(),
                webpki_reason(&e)
            )
        })
    }
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
        other => format!("{other:?}"),
    }
}
