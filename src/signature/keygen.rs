//! `nv2 keygen`: a signing key and a self-signed certificate for it, so a
//! user can try nv2 without openssl. The certificate carries what verifiers
//! look for: digitalSignature, codeSigning, and a SAN equal to the CN.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, RsaKeySize,
};

/// Which key to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    /// RSA-2048 (signs RS256 by default, like the 2020 prototype).
    Rsa,
    /// ECDSA P-256 (ES256).
    P256,
    /// ECDSA P-384 (ES384).
    P384,
}

/// A generated key (PKCS#8 PEM) and its certificate (PEM).
pub(crate) struct Generated {
    pub key_pem: String,
    pub cert_pem: String,
}

/// Generates a key of `key_type` and a certificate for `cn` valid `days` days.
/// Why a key or certificate could not be generated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeygenError {
    #[error("key generation failed: {0}")]
    Key(rcgen::Error),
    #[error("invalid name {cn:?}: {error}")]
    Name { cn: String, error: rcgen::Error },
    #[error("certificate creation failed: {0}")]
    Certificate(rcgen::Error),
}

pub(crate) fn generate(cn: &str, key_type: KeyType, days: u32) -> Result<Generated, KeygenError> {
    let key = match key_type {
        KeyType::Rsa => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        KeyType::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyType::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
    }
    .map_err(KeygenError::Key)?;
    let mut params =
        CertificateParams::new(vec![cn.to_owned()]).map_err(|error| KeygenError::Name {
            cn: crate::oci::digest::shorten(cn),
            error,
        })?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(days));
    let cert = params.self_signed(&key).map_err(KeygenError::Certificate)?;
    Ok(Generated {
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
    })
}
