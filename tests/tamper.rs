//! Exhaustive tampering: every single-bit change and every truncation of a
//! valid signature file (kid and x5c forms) must fail to parse or fail to
//! verify — never pass, never panic. Likewise every truncation of an
//! AdmissionReview must be refused without a panic.

use nv2::oci::Digest;
use nv2::signature::Certificate;
use nv2::signature::TrustMaterial;
use nv2::signature::{Algorithm, SigningKey};
use nv2::signature::{Envelope, SignedContent, Signer};
use nv2::verify::{Identities, Requirements, Subject, verify_envelope};

fn fixture(chain: bool) -> (Vec<u8>, TrustMaterial, Subject) {
    fixture_with(chain, nv2::time::now() + 3600)
}

fn fixture_with(chain: bool, exp: i64) -> (Vec<u8>, TrustMaterial, Subject) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["registry.example.com".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert = Certificate::from_der(cert.der().to_vec()).unwrap();
    let signing = SigningKey::from_pem(key.serialize_pem().as_bytes()).unwrap();
    let signer = if chain {
        Signer::with_chain(signing, Algorithm::ES256, vec![cert.clone()])
    } else {
        Signer::with_key_id(signing, Algorithm::ES256, cert.public_key().spki_der())
    };
    let manifest = b"{\"schemaVersion\":2}";
    let subject = Subject {
        digest: Digest::of(manifest),
        size: Some(manifest.len() as u64),
        name: None,
    };
    let content = SignedContent {
        digest: subject.digest.to_string(),
        size: manifest.len() as u64,
        references: vec!["registry.example.com/app:v1".into()],
        exp,
        nbf: 0,
        iat: nv2::time::now(),
    };
    let bytes = Envelope::sign(&content, &signer).unwrap().to_bytes();
    (
        bytes,
        TrustMaterial::new(vec![cert], vec![]).unwrap(),
        subject,
    )
}

fn verdict(bytes: &[u8], trust: &TrustMaterial, subject: &Subject) -> Option<nv2::verify::Verdict> {
    let env = Envelope::parse(bytes).ok()?;
    let req = Requirements {
        trust,
        identities: &Identities::Any,
        now: nv2::time::now(),
    };
    Some(verify_envelope(&env, subject, &req)).filter(|v| v.is_verified())
}

fn verifies(bytes: &[u8], trust: &TrustMaterial, subject: &Subject) -> bool {
    verdict(bytes, trust, subject).is_some()
}

#[test]
fn no_single_bit_flip_or_truncation_verifies() {
    for chain in [false, true] {
        let (good, trust, subject) = fixture(chain);
        assert!(verifies(&good, &trust, &subject));
        let pinned_subject = trust.pinned()[0].subject().to_owned();
        // With a pinned key, the x5c certificate is unsigned metadata: a flip
        // there that keeps the key may still verify, but its fields must carry
        // no weight (the verdict names the pinned certificate). Anywhere else,
        // nothing may verify.
        let text = String::from_utf8(good.clone()).unwrap();
        let x5c = text
            .find("\"x5c\":[\"")
            .map(|s| (s + 8, s + 8 + text[s + 8..].find('"').unwrap()));
        let mut passed = Vec::new();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                if let Some(v) = verdict(&bad, &trust, &subject) {
                    let inside_x5c = x5c.is_some_and(|(a, b)| (a..b).contains(&i));
                    let signer = v
                        .signatures
                        .iter()
                        .find(|s| s.failures.is_empty())
                        .and_then(|s| s.signer.clone());
                    if !inside_x5c || signer.as_deref() != Some(pinned_subject.as_str()) {
                        passed.push((i, bit));
                    }
                }
            }
        }
        assert!(
            passed.is_empty(),
            "chain={chain}: {} mutations verified, first at {:?}",
            passed.len(),
            passed.first()
        );
        for len in 0..good.len() {
            assert!(
                !verifies(&good[..len], &trust, &subject),
                "truncation to {len} verified"
            );
        }
    }
}

#[test]
fn truncated_admission_reviews_are_refused() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/admission/pod-create.json"
    ))
    .unwrap();
    let bytes = text.as_bytes();
    assert!(nv2::admission::parse_review(bytes).is_ok());
    for len in 0..bytes.len() - 2 {
        // Only the closing braces and newline may go before the JSON is incomplete.
        let cut = &bytes[..len];
        if let Ok(req) = nv2::admission::parse_review(cut) {
            panic!("a truncated review parsed: {} bytes, uid {}", len, req.uid);
        }
    }
}

/// A certificate for `key`'s public key with chosen fields, signed by some
/// other key: what an attacker holding a signed file can put in its x5c.
fn forged_cert(key: &rcgen::KeyPair, cn: &str, names: Vec<String>, days: (i64, i64)) -> String {
    use base64::Engine;
    let forger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer = rcgen::Issuer::new(
        rcgen::CertificateParams::new(Vec::<String>::new()).unwrap(),
        forger,
    );
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(days.0);
    params.not_after = now + time::Duration::days(days.1);
    let cert = params.signed_by(key, &issuer).unwrap();
    base64::engine::general_purpose::STANDARD.encode(cert.der())
}

#[test]
fn x5c_fields_cannot_override_a_pinned_certificate() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    // The pinned certificate: CN=real signer, valid for registry.example.com, expired.
    let mut params =
        rcgen::CertificateParams::new(vec!["registry.example.com".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "real signer");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now - time::Duration::days(1);
    let pinned = Certificate::from_der(params.self_signed(&key).unwrap().der().to_vec()).unwrap();
    let signing = SigningKey::from_pem(key.serialize_pem().as_bytes()).unwrap();
    let manifest = b"{}";
    let subject = Subject {
        digest: Digest::of(manifest),
        size: Some(2),
        name: None,
    };
    let content = SignedContent {
        digest: subject.digest.to_string(),
        size: 2,
        references: vec!["evil.example.org/app:v1".into()],
        exp: 0,
        nbf: 0,
        iat: nv2::time::now(),
    };
    let env = Envelope::sign(
        &content,
        &Signer::with_key_id(signing, Algorithm::ES256, pinned.public_key().spki_der()),
    )
    .unwrap();
    let text = String::from_utf8(env.to_bytes()).unwrap();
    // Swap the kid for a forged x5c: fresh validity, the wanted names and subject.
    let forged = forged_cert(
        &key,
        "trusted release",
        vec!["evil.example.org".into()],
        (-1, 30),
    );
    let kid_start = text.find("\"kid\":\"").unwrap();
    let kid_end = kid_start + text[kid_start + 7..].find('"').unwrap() + 8;
    let attack = format!(
        "{}\"x5c\":[\"{forged}\"]{}",
        &text[..kid_start],
        &text[kid_end..]
    );
    let trust = TrustMaterial::new(vec![pinned], vec![]).unwrap();
    let identities = Identities::Subjects(vec![
        nv2::signature::Name::parse_rfc4514("CN=trusted release").unwrap(),
    ]);
    let req = Requirements {
        trust: &trust,
        identities: &identities,
        now: nv2::time::now(),
    };
    let verdict = verify_envelope(&Envelope::parse(attack.as_bytes()).unwrap(), &subject, &req);
    assert!(!verdict.is_verified());
    let reasons = verdict.reasons().join("\n");
    assert!(reasons.contains("expired at"), "{reasons}");
    assert!(
        reasons.contains("CN=real signer"),
        "the pinned certificate's facts are used: {reasons}"
    );
    let failures: Vec<&str> = verdict.signatures[0]
        .failures
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert!(
        failures
            .iter()
            .any(|f| f.contains("not a trusted identity")),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.contains("names registry evil.example.org")),
        "{failures:?}"
    );
}
