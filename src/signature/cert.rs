//! X.509 certificates: parsed once, with the facts verification needs kept
//! beside the DER so the hot path never re-parses.

use std::net::IpAddr;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::signature::crypto::PublicKey;

/// A parsed certificate and what nv2 needs to know about it.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: CertificateDer<'static>,
    key: PublicKey,
    key_id: String,
    subject: String,
    /// The subject attribute by attribute, for identity matching.
    subject_name: crate::signature::dn::Name,
    issuer: String,
    /// DER of the subject and issuer names, to order a chain.
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    /// The subject's CN when it has exactly one (a name fallback needs one).
    common_name: Option<String>,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    has_san: bool,
    not_before: i64,
    not_after: i64,
    /// `Some(bits)` when the key usage extension is present.
    digital_signature: Option<bool>,
    /// `Some(bit)` when the key usage extension is present.
    key_cert_sign: Option<bool>,
    is_ca: bool,
    /// Whether the certificate carries a nameConstraints extension.
    name_constrained: bool,
    /// basicConstraints pathLenConstraint: how many CAs may follow below it.
    path_len: Option<u32>,
    /// Whether its extended key usage (if any) allows code signing.
    code_signing: bool,
    /// The extended key usage names purposes besides codeSigning.
    other_purposes: bool,
    crl_sign: bool,
    self_signed: bool,
    fingerprint: String,
}

/// Why certificate bytes cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("malformed certificate: {0}")]
    Malformed(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

/// A certificate used outside its validity period.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ValidityError {
    #[error("certificate {subject:?} is not valid before {}", crate::time::rfc3339(*.from))]
    NotYetValid { subject: String, from: i64 },
    #[error("certificate {subject:?} expired at {}", crate::time::rfc3339(*.at))]
    Expired { subject: String, at: i64 },
}

impl Certificate {
    /// Parses one DER certificate; trailing bytes are refused.
    // Over 60 lines: every extension nv2 reads is taken once, here, from the parsed certificate.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertError> {
        let (rest, cert) =
            X509Certificate::from_der(&der).map_err(|e| CertError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertError::Malformed(
                "trailing bytes after the certificate".into(),
            ));
        }
        let key = PublicKey::from_parsed(cert.public_key());
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut has_san = false;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| CertError::Malformed(format!("subjectAltName: {e}")))?;
        if let Some(san) = san {
            has_san = true;
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) => dns_names.push(n.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            ip_addresses.push(IpAddr::from(a));
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            ip_addresses.push(IpAddr::from(a));
                        }
                    }
                    _ => {}
                }
            }
        }
        let common_name = {
            let mut cns = cert.subject().iter_common_name();
            match (cns.next(), cns.next()) {
                (Some(cn), None) => cn.as_str().ok().map(str::to_owned),
                _ => None,
            }
        };
        let key_usage = cert
            .key_usage()
            .map_err(|e| CertError::Malformed(format!("keyUsage: {e}")))?;
        let digital_signature = key_usage.as_ref().map(|ku| ku.value.digital_signature());
        let key_cert_sign = key_usage.as_ref().map(|ku| ku.value.key_cert_sign());
        let crl_sign = key_usage.as_ref().is_some_and(|ku| ku.value.crl_sign());
        let name_constrained = cert
            .name_constraints()
            .map_err(|e| CertError::Malformed(format!("nameConstraints: {e}")))?
            .is_some();
        let basic = cert
            .basic_constraints()
            .map_err(|e| CertError::Malformed(format!("basicConstraints: {e}")))?;
        let is_ca = basic.as_ref().is_some_and(|bc| bc.value.ca);
        let path_len = basic.and_then(|bc| bc.value.path_len_constraint);
        // codeSigning allowed: no EKU extension, or codeSigning in it
        // (anyExtendedKeyUsage is not enough, as webpki holds for leaves).
        let eku = cert
            .extended_key_usage()
            .map_err(|e| CertError::Malformed(format!("extendedKeyUsage: {e}")))?;
        let code_signing = eku.as_ref().is_none_or(|eku| eku.value.code_signing);
        // Any purpose besides codeSigning (Notation refuses such signers).
        let other_purposes = eku.as_ref().is_some_and(|e| {
            let e = &e.value;
            e.any
                || e.server_auth
                || e.client_auth
                || e.email_protection
                || e.time_stamping
                || e.ocsp_signing
                || !e.other.is_empty()
        });
        let self_signed = cert.subject().as_raw() == cert.issuer().as_raw();
        let validity = cert.validity();
        let fingerprint = crate::oci::digest::hex(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der).as_ref(),
        );
        // Display strings only (comparisons use subject_name and the DER):
        // escaped, since anyone can write a certificate's names.
        let subject = crate::text::printable(&cert.subject().to_string()).into_owned();
        let subject_name = crate::signature::dn::Name::from_x509(cert.subject());
        let subject_der = cert.subject().as_raw().to_vec();
        let issuer_der = cert.issuer().as_raw().to_vec();
        let issuer = crate::text::printable(&cert.issuer().to_string()).into_owned();
        let (not_before, not_after) = (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        );
        let out = Certificate {
            key_id: key.key_id(),
            subject,
            subject_name,
            subject_der,
            issuer_der,
            issuer,
            common_name,
            dns_names,
            ip_addresses,
            has_san,
            not_before,
            not_after,
            digital_signature,
            key_cert_sign,
            is_ca,
            name_constrained,
            path_len,
            code_signing,
            other_purposes,
            crl_sign,
            self_signed,
            fingerprint,
            key,
            der: CertificateDer::from(der),
        };
        Ok(out)
    }

    /// Reads every certificate of a PEM bundle, in order.
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>, CertError> {
        let mut out = Vec::new();
        for der in CertificateDer::pem_slice_iter(pem) {
            let der = der.map_err(|e| CertError::Malformed(format!("PEM: {e}")))?;
            out.push(Certificate::from_der(der.to_vec())?);
        }
        if out.is_empty() {
            return Err(CertError::Malformed("no CERTIFICATE block in PEM".into()));
        }
        Ok(out)
    }

    /// Reads a PEM file of one or more certificates.
    pub fn load_pem_file(path: &Path) -> Result<Vec<Self>, CertError> {
        let file_err = |reason: String| CertError::File {
            path: path.display().to_string(),
            reason,
        };
        let bytes = crate::io::read_bounded(path, crate::io::MAX_CERT_FILE)
            .map_err(|e| file_err(e.to_string()))?;
        Certificate::from_pem(&bytes).map_err(|e| file_err(e.to_string()))
    }

    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// The subject by attribute, for comparing identities.
    pub fn subject_name(&self) -> &crate::signature::dn::Name {
        &self.subject_name
    }
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }
    pub fn not_before(&self) -> i64 {
        self.not_before
    }
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }
    pub fn is_self_signed(&self) -> bool {
        self.self_signed
    }
    pub fn is_name_constrained(&self) -> bool {
        self.name_constrained
    }

    /// Whether `issuer`'s subject is this certificate's issuer name.
    pub fn names_issuer(&self, issuer: &Certificate) -> bool {
        self.issuer_der == issuer.subject_der
    }
    /// Whether two certificates have the same subject name.
    pub fn same_subject(&self, other: &Certificate) -> bool {
        self.subject_der == other.subject_der
    }

    /// Whether this certificate may issue others: CA:TRUE, and keyCertSign
    /// when a key usage extension is present (RFC 5280 4.2.1.3, 4.2.1.9).
    pub fn may_issue(&self) -> bool {
        self.is_ca && self.key_cert_sign.unwrap_or(true)
    }
    /// The most CA certificates that may stand between this one and a leaf.
    pub fn path_len(&self) -> Option<u32> {
        self.path_len
    }
    /// Whether the extended key usage, when present, allows code signing
    /// (lists codeSigning). Checked for every certificate a
    /// signature rests on, however it is trusted.
    pub fn allows_code_signing(&self) -> bool {
        self.code_signing
    }
    /// SHA-256 of the DER, lowercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether the key usage allows signing: true when the extension is absent.
    /// Why this certificate may not sign as Notation requires of a signing
    /// leaf: key usage digitalSignature and never keyCertSign or cRLSign;
    /// an extended key usage, when present, of codeSigning alone.
    pub(crate) fn notation_signing_problem(&self) -> Option<String> {
        let subject = &self.subject;
        if self.is_ca {
            return Some(format!(
                "certificate \"{subject}\" is a CA certificate, not a signing one"
            ));
        }
        if self.digital_signature == Some(false) {
            return Some(format!(
                "certificate \"{subject}\" has a key usage without digitalSignature"
            ));
        }
        if self.key_cert_sign == Some(true) || self.crl_sign {
            return Some(format!(
                "certificate \"{subject}\" has keyCertSign or cRLSign in its key usage, which a signing certificate may not"
            ));
        }
        if !self.code_signing || self.other_purposes {
            return Some(format!(
                "certificate \"{subject}\" has an extended key usage other than codeSigning alone"
            ));
        }
        None
    }

    pub fn allows_digital_signature(&self) -> bool {
        self.digital_signature.unwrap_or(true)
    }

    /// `Ok` when `now` (Unix seconds) is inside the validity period.
    pub fn check_validity(&self, now: i64) -> Result<(), ValidityError> {
        if now < self.not_before {
            return Err(ValidityError::NotYetValid {
                subject: self.subject.clone(),
                from: self.not_before,
            });
        }
        if now > self.not_after {
            return Err(ValidityError::Expired {
                subject: self.subject.clone(),
                at: self.not_after,
            });
        }
        Ok(())
    }

    /// Whether this certificate is valid for registry `host` (a port, if any,
    /// is ignored): a SAN dNSName (RFC 6125 wildcards), a SAN iPAddress, or —
    /// only when `cn_fallback` and the certificate has no SAN at all — its
    /// single subject CN. Callers pass `cn_fallback = false` under a chain with
    /// name constraints, which bind SANs but not the CN.
    pub fn covers_host(&self, host: &str, cn_fallback: bool) -> bool {
        let cn = if cn_fallback && !self.has_san {
            self.common_name.as_deref()
        } else {
            None
        };
        let host = strip_port(host);
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return self.ip_addresses.contains(&ip)
                || cn.and_then(|cn| cn.parse::<IpAddr>().ok()) == Some(ip);
        }
        let host = host.to_ascii_lowercase();
        if self.has_san {
            return self.dns_names.iter().any(|n| dns_name_matches(n, &host));
        }
        cn.is_some_and(|cn| dns_name_matches(&cn.to_ascii_lowercase(), &host))
    }

    /// The names this certificate is valid for, for messages (escaped):
    /// its SANs, or without any its CN when `cn_fallback` allows it.
    pub fn names(&self, cn_fallback: bool) -> Vec<String> {
        let shown = |s: &str| crate::text::printable(s).into_owned();
        if self.has_san {
            let mut v: Vec<String> = self.dns_names.iter().map(|n| shown(n)).collect();
            v.extend(self.ip_addresses.iter().map(|ip| ip.to_string()));
            v
        } else if cn_fallback {
            self.common_name.iter().map(|n| shown(n)).collect()
        } else {
            Vec::new()
        }
    }
}

/// `host:port` → `host`; leaves IPv6 literals in brackets intact.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.find(']') {
            Some(end) => &host[..end + 2],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// RFC 6125 §6.4: exact match, or a `*.` wildcard standing for exactly one
/// whole left-most label (never a partial label, never a public suffix alone).
fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    let host = host.trim_end_matches('.');
    if let Some(suffix) = pattern.strip_prefix("*.") {
        if !suffix.contains('.') {
            return false;
        }
        return match host.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest == suffix,
            None => false,
        };
    }
    !pattern.contains('*') && pattern == host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_label_only() {
        assert!(dns_name_matches("*.example.com", "registry.example.com"));
        assert!(!dns_name_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("*.com", "example.com"));
        assert!(!dns_name_matches(
            "reg*.example.com",
            "registry.example.com"
        ));
        assert!(dns_name_matches("example.com", "example.com"));
        assert!(!dns_name_matches("example.com", "example.org"));
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("localhost:5000"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:5000"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
    }
}
