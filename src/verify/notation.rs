//! Verification of a Notation JWS signature (`signature::jws`) against a
//! target and trust material, into the same [`Verdict`] the `.nv2` pipeline
//! gives: integrity (the envelope's rules, the key's one algorithm, the
//! signature), authenticity (the signer trusted exactly as for `.nv2`:
//! [`signer_trust`]), expiry (`io.cncf.notary.expiry`), and the payload's
//! target against the image.
//!
//! Not yet here (issue 15): trust-store types by signing scheme, RFC 3161
//! timestamps (Notation's authenticTimestamp is checked as "the signing
//! certificate is valid now", part of authenticity), discovery of Notation
//! signatures in registries and layouts, COSE.

use crate::signature::jws::JwsEnvelope;
use crate::verify::pipeline::{
    Check, Failure, Requirements, SignatureReport, SignerKey, Subject, Verdict, signer_trust,
};

/// Parses a Notation JWS envelope and verifies it (the one call the CLI,
/// tests and benchmarks make); a file that breaks the envelope's rules is
/// an error, not a verdict.
pub fn verify_notation_jws(
    bytes: &[u8],
    subject: &Subject,
    media_type: Option<&str>,
    req: &Requirements<'_>,
) -> Result<Verdict, crate::signature::jws::JwsError> {
    let env = JwsEnvelope::parse(bytes)?;
    Ok(verify_jws(&env, subject, media_type, req))
}

/// Verifies `env` for `subject` (whose descriptor has `media_type`, when
/// known: the payload must name the same) under `req`.
pub(crate) fn verify_jws(
    env: &JwsEnvelope,
    subject: &Subject,
    media_type: Option<&str>,
    req: &Requirements<'_>,
) -> Verdict {
    let mut content_failures = Vec::new();
    if let Some(media_type) = media_type
        && media_type != env.target.media_type
    {
        content_failures.push(Failure::new(
            Check::Integrity,
            format!(
                "the signature is for a {}, but the target is a {}",
                crate::text::printable(&env.target.media_type),
                crate::text::printable(media_type)
            ),
        ));
    }
    if env.target.digest != subject.digest {
        content_failures.push(Failure::new(
            Check::Integrity,
            format!(
                "the signature is for {}, but the target is {}",
                env.target.digest, subject.digest
            ),
        ));
    }
    if let Some(size) = subject.size
        && size != env.target.size
    {
        content_failures.push(Failure::new(
            Check::Integrity,
            format!(
                "the signature is for {} bytes, but the target has {size}",
                env.target.size
            ),
        ));
    }
    if let Some(exp) = env.expiry
        && req.now > exp
    {
        content_failures.push(Failure::new(
            Check::Expiry,
            format!(
                "the signature expired at {} (io.cncf.notary.expiry)",
                crate::time::rfc3339(exp)
            ),
        ));
    }
    let leaf = &env.chain[0];
    let mut report = SignatureReport {
        index: 1,
        alg: env.alg.to_string(),
        signer: Some(leaf.subject().to_owned()),
        key_id: Some(leaf.key_id().to_owned()),
        cert_not_after: None,
        failures: Vec::new(),
    };
    if let Err(e) = env.verify_integrity() {
        report
            .failures
            .push(Failure::new(Check::Integrity, e.to_string()));
    } else {
        let key = SignerKey::Chain(env.chain.clone());
        let trust = signer_trust(&key, req);
        report.signer = Some(trust.leaf.subject().to_owned());
        report.cert_not_after = Some(trust.not_after);
        report.failures = trust.failures;
        // Notation's signing-certificate rules, on the x5c leaf and (when the
        // key is pinned) on the trusted certificate too.
        for cert in [leaf, trust.leaf] {
            if let Some(problem) = cert.notation_signing_problem()
                && !report.failures.iter().any(|f| f.reason.ends_with(&problem))
            {
                report
                    .failures
                    .push(Failure::new(Check::Authenticity, problem));
            }
        }
    }
    Verdict {
        digest: subject.digest.clone(),
        content_failures,
        signatures: vec![report],
        exp: env.expiry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::Digest;
    use crate::signature::cert::Certificate;
    use crate::signature::trust::TrustMaterial;
    use crate::verify::pipeline::Identities;

    const JWS: &[u8] = include_bytes!("../../tests/data/notation/jws_signature.sig");
    const ALPINE: &[u8] = include_bytes!("../../tests/data/notation/alpine-2123.crt");
    const TARGET: &str = "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0";

    fn subject(digest: &str, size: Option<u64>) -> Subject {
        Subject {
            digest: Digest::parse(digest).unwrap(),
            size,
            name: None,
        }
    }

    fn trust_of(pem: &[u8]) -> TrustMaterial {
        TrustMaterial::from_store_certificates(Certificate::from_pem(pem).unwrap()).unwrap()
    }

    fn verify(target: &Subject, trust: &TrustMaterial, identities: &Identities) -> Verdict {
        let env = JwsEnvelope::parse(JWS).unwrap();
        let req = Requirements {
            trust,
            identities,
            now: crate::time::now(),
        };
        verify_jws(&env, target, None, &req)
    }

    #[test]
    fn notations_signature_verifies_under_its_signer_only() {
        let alpine = trust_of(ALPINE);
        // Vector 21: verified.
        let v = verify(&subject(TARGET, Some(481)), &alpine, &Identities::Any);
        assert!(v.is_verified(), "{:?}", v.reasons());
        // Vector 23: another target.
        let other = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
        let v = verify(&subject(other, None), &alpine, &Identities::Any);
        assert!(!v.is_verified());
        assert!(
            v.reasons()
                .join(" ")
                .contains("the signature is for sha256:19dbd2"),
            "{:?}",
            v.reasons()
        );
        // The right digest and size, another media type.
        let env = JwsEnvelope::parse(JWS).unwrap();
        let req = Requirements {
            trust: &alpine,
            identities: &Identities::Any,
            now: crate::time::now(),
        };
        let v = verify_jws(
            &env,
            &subject(TARGET, Some(481)),
            Some("application/vnd.oci.image.index.v1+json"),
            &req,
        );
        assert!(!v.is_verified());
        assert!(
            verify_jws(
                &env,
                &subject(TARGET, Some(481)),
                Some("application/vnd.oci.image.manifest.v1+json"),
                &req
            )
            .is_verified()
        );
        // The right digest with another size.
        let v = verify(&subject(TARGET, Some(482)), &alpine, &Identities::Any);
        assert!(!v.is_verified());
        // Vector 24: a store that does not hold the signer.
        let stranger = crate::signature::keygen::generate(
            "stranger",
            crate::signature::keygen::KeyType::P256,
            30,
        )
        .unwrap();
        let v = verify(
            &subject(TARGET, Some(481)),
            &trust_of(stranger.cert_pem.as_bytes()),
            &Identities::Any,
        );
        assert!(!v.is_verified());
        assert!(
            v.signatures[0]
                .failures
                .iter()
                .all(|f| f.check == Check::Authenticity),
            "{:?}",
            v.reasons()
        );
        // An identity the signer does not have.
        let other_id = Identities::Subjects(vec![
            crate::signature::dn::Name::parse_rfc4514(
                "C=US, ST=WA, L=Seattle, O=Notary, CN=alpine2",
            )
            .unwrap(),
        ]);
        assert!(!verify(&subject(TARGET, Some(481)), &alpine, &other_id).is_verified());
        let same_id = Identities::Subjects(vec![
            crate::signature::dn::Name::parse_rfc4514(
                "CN=alpine, O=Notary, L=Seattle, ST=WA, C=US",
            )
            .unwrap(),
        ]);
        assert!(verify(&subject(TARGET, Some(481)), &alpine, &same_id).is_verified());
    }

    /// Notation's signing-certificate rules: codeSigning alone, and
    /// digitalSignature without keyCertSign or cRLSign (attack finding: extra
    /// purposes were accepted next to codeSigning).
    #[test]
    fn signing_certificates_follow_notations_usage_rules() {
        use rcgen::{
            CertificateParams, ExtendedKeyUsagePurpose as Eku, KeyPair, KeyUsagePurpose as Ku,
        };
        let make = |ekus: Vec<Eku>, kus: Vec<Ku>| {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let mut p = CertificateParams::new(vec!["signer.example".to_owned()]).unwrap();
            p.extended_key_usages = ekus;
            p.key_usages = kus;
            let cert = p.self_signed(&key).unwrap();
            let signing =
                crate::signature::crypto::SigningKey::from_pem(key.serialize_pem().as_bytes())
                    .unwrap();
            (signing, Certificate::from_der(cert.der().to_vec()).unwrap())
        };
        let target = crate::signature::jws::TargetArtifact {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: Digest::of(b"m"),
            size: 1,
        };
        let check = |ekus: Vec<Eku>, kus: Vec<Ku>| {
            let (key, cert) = make(ekus, kus);
            let bytes = crate::signature::jws::sign(&crate::signature::jws::JwsSigning {
                target: &target,
                key: &key,
                chain: std::slice::from_ref(&cert),
                signing_time: crate::time::now(),
                expiry: None,
            })
            .unwrap();
            let trust = TrustMaterial::from_store_certificates(vec![cert]).unwrap();
            let req = Requirements {
                trust: &trust,
                identities: &Identities::Any,
                now: crate::time::now(),
            };
            verify_notation_jws(
                &bytes,
                &subject(target.digest.as_str(), Some(1)),
                None,
                &req,
            )
            .unwrap()
        };
        assert!(check(vec![Eku::CodeSigning], vec![Ku::DigitalSignature]).is_verified());
        assert!(
            check(vec![], vec![]).is_verified(),
            "no usage extensions: any use"
        );
        for (ekus, kus) in [
            (
                vec![Eku::CodeSigning, Eku::ServerAuth],
                vec![Ku::DigitalSignature],
            ),
            (vec![Eku::CodeSigning, Eku::Any], vec![Ku::DigitalSignature]),
            (
                vec![Eku::CodeSigning, Eku::TimeStamping],
                vec![Ku::DigitalSignature],
            ),
            (
                vec![Eku::CodeSigning],
                vec![Ku::DigitalSignature, Ku::KeyCertSign],
            ),
            (
                vec![Eku::CodeSigning],
                vec![Ku::DigitalSignature, Ku::CrlSign],
            ),
            (vec![Eku::CodeSigning], vec![Ku::KeyEncipherment]),
        ] {
            let v = check(ekus.clone(), kus.clone());
            assert!(!v.is_verified(), "{ekus:?} {kus:?}");
        }
    }
}
