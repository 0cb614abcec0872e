//! `nv2 inspect`: what a signature file says, for people and for machines.

use serde::Serialize;

use crate::signature::cert::Certificate;
use crate::signature::envelope::Envelope;
use crate::time::rfc3339;

/// A signature file, described.
#[derive(Serialize)]
pub(super) struct Inspection {
    pub digest: String,
    pub size: u64,
    pub references: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub signatures: Vec<SignatureInfo>,
}

#[derive(Serialize)]
pub(super) struct SignatureInfo {
    pub typ: String,
    pub alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    pub certificates: Vec<CertificateInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub key: String,
    pub key_id: String,
    pub sha256_fingerprint: String,
}

impl CertificateInfo {
    pub(super) fn of(c: &Certificate) -> Self {
        CertificateInfo {
            subject: c.subject().to_owned(),
            issuer: c.issuer().to_owned(),
            names: c.names(true),
            not_before: rfc3339(c.not_before()),
            not_after: rfc3339(c.not_after()),
            key: c.public_key().kind().to_string(),
            key_id: c.key_id().to_owned(),
            sha256_fingerprint: c.fingerprint().to_owned(),
        }
    }
}

fn time_field(t: i64) -> Option<String> {
    (t != 0).then(|| rfc3339(t))
}

/// Describes `env` without verifying it.
pub(super) fn inspect(env: &Envelope) -> Inspection {
    let s = env.signed();
    let signatures = env
        .signatures()
        .iter()
        .map(|e| {
            let mut problems = Vec::new();
            let mut certificates = Vec::new();
            for (i, b64) in e.x5c.iter().flatten().enumerate() {
                match crate::signature::envelope::x5c_certificate(i, b64) {
                    Ok(c) => certificates.push(CertificateInfo::of(&c)),
                    Err(reason) => problems.push(reason.to_string()),
                }
            }
            SignatureInfo {
                typ: e.typ.clone(),
                alg: e.alg.clone(),
                kid: e.kid.clone(),
                certificates,
                problems,
            }
        })
        .collect();
    Inspection {
        digest: s.digest.clone(),
        size: s.size,
        references: s.references.clone(),
        issued_at: time_field(s.iat),
        not_before: time_field(s.nbf),
        expires: time_field(s.exp),
        signatures,
    }
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Digest:      {}", self.digest)?;
        writeln!(f, "Size:        {} bytes", self.size)?;
        if !self.references.is_empty() {
            writeln!(f, "References:  {}", self.references.join(", "))?;
        }
        for (label, v) in [
            ("Issued at:  ", &self.issued_at),
            ("Not before: ", &self.not_before),
            ("Expires:    ", &self.expires),
        ] {
            if let Some(v) = v {
                writeln!(f, "{label} {v}")?;
            }
        }
        for (i, s) in self.signatures.iter().enumerate() {
            writeln!(f, "Signature {}: {} {}", i + 1, s.typ, s.alg)?;
            if let Some(kid) = &s.kid {
                writeln!(f, "  Key id:    {kid}")?;
            }
            for (j, c) in s.certificates.iter().enumerate() {
                let role = if j == 0 { "Leaf" } else { "Chain" };
                writeln!(f, "  {role} certificate:")?;
                writeln!(f, "    Subject:     {}", c.subject)?;
                writeln!(f, "    Issuer:      {}", c.issuer)?;
                if !c.names.is_empty() {
                    writeln!(f, "    Names:       {}", c.names.join(", "))?;
                }
                writeln!(f, "    Valid:       {} to {}", c.not_before, c.not_after)?;
                writeln!(f, "    Key:         {} ({})", c.key, c.key_id)?;
                writeln!(f, "    SHA-256:     {}", c.sha256_fingerprint)?;
            }
            for p in &s.problems {
                writeln!(f, "  Problem:     {p}")?;
            }
        }
        Ok(())
    }
}

/// A Notation JWS envelope, described (not verified).
#[derive(Serialize)]
pub(super) struct JwsInspection {
    pub envelope: &'static str,
    pub alg: String,
    pub signing_scheme: &'static str,
    pub signing_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub target_media_type: String,
    pub target_digest: String,
    pub target_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_agent: Option<String>,
    /// Bytes of the RFC 3161 timestamp token, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_bytes: Option<usize>,
    pub certificates: Vec<CertificateInfo>,
}

/// Describes a Notation JWS envelope without verifying it.
pub(super) fn inspect_jws(env: &crate::signature::jws::JwsEnvelope) -> JwsInspection {
    JwsInspection {
        envelope: crate::signature::jws::MEDIA_TYPE,
        alg: env.alg.to_string(),
        signing_scheme: env.scheme.name(),
        signing_time: rfc3339(env.signing_time),
        expires: env.expiry.map(rfc3339),
        target_media_type: crate::text::printable(&env.target.media_type).into_owned(),
        target_digest: env.target.digest.to_string(),
        target_size: env.target.size,
        signing_agent: env.signing_agent.clone(),
        timestamp_bytes: env.timestamp.as_ref().map(Vec::len),
        certificates: env.chain.iter().map(CertificateInfo::of).collect(),
    }
}

impl std::fmt::Display for JwsInspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Envelope:    {} (Notation JWS)", self.envelope)?;
        writeln!(
            f,
            "Target:      {} ({} bytes, {})",
            self.target_digest, self.target_size, self.target_media_type
        )?;
        writeln!(f, "Algorithm:   {}", self.alg)?;
        writeln!(f, "Scheme:      {}", self.signing_scheme)?;
        writeln!(f, "Signed at:   {}", self.signing_time)?;
        if let Some(e) = &self.expires {
            writeln!(f, "Expires:     {e}")?;
        }
        if let Some(a) = &self.signing_agent {
            writeln!(f, "Agent:       {a}")?;
        }
        match self.timestamp_bytes {
            Some(n) => writeln!(
                f,
                "Timestamp:   RFC 3161 token, {n} bytes (not verified here)"
            )?,
            None => writeln!(f, "Timestamp:   none")?,
        }
        for (j, c) in self.certificates.iter().enumerate() {
            let role = if j == 0 { "Leaf" } else { "Chain" };
            writeln!(f, "{role} certificate:")?;
            writeln!(f, "  Subject:     {}", c.subject)?;
            writeln!(f, "  Issuer:      {}", c.issuer)?;
            writeln!(f, "  Valid:       {} to {}", c.not_before, c.not_after)?;
            writeln!(f, "  Key:         {} ({})", c.key, c.key_id)?;
            writeln!(f, "  SHA-256:     {}", c.sha256_fingerprint)?;
        }
        Ok(())
    }
}
