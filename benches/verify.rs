//! Verification hot paths: raw signature checks per algorithm, parsing a
//! `.nv2`, and the whole pipeline for one file. Figures: docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nv2::oci::Digest;
use nv2::signature::Certificate;
use nv2::signature::TrustMaterial;
use nv2::signature::{Algorithm, SigningKey};
use nv2::signature::{Envelope, SignedContent, Signer};
use nv2::verify::{Identities, Requirements, Subject, verify_envelope};
use rcgen::{CertificateParams, KeyPair};

struct Fixture {
    envelope_bytes: Vec<u8>,
    cert: Certificate,
    subject: Subject,
}

fn fixture(key: KeyPair, alg: Algorithm, chain: bool) -> Fixture {
    let params = CertificateParams::new(vec!["registry.example.com".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert = Certificate::from_der(cert.der().to_vec()).unwrap();
    let signing = SigningKey::from_pem(key.serialize_pem().as_bytes()).unwrap();
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:05776ac63057f2e4f095c5f4db960ffabf7ef6b00cc6e37a72d0dc1b10e201ff","size":134},"layers":[]}"#;
    let digest = Digest::of(manifest);
    let signer = if chain {
        Signer::with_chain(signing, alg, vec![cert.clone()])
    } else {
        Signer::with_key_id(signing, alg, cert.public_key().spki_der())
    };
    let content = SignedContent {
        digest: digest.to_string(),
        size: manifest.len() as u64,
        references: vec!["registry.example.com/hello-world:v1.0".into()],
        exp: 0,
        nbf: 0,
        iat: 1_595_562_742,
    };
    let envelope = Envelope::sign(&content, &signer).unwrap();
    Fixture {
        envelope_bytes: envelope.to_bytes(),
        cert,
        subject: Subject {
            digest,
            size: Some(manifest.len() as u64),
            name: None,
        },
    }
}

fn rsa_key() -> KeyPair {
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap()
}

fn benches(c: &mut Criterion) {
    let cases = [
        ("RS256-2048", rsa_key(), Algorithm::RS256),
        (
            "ES256",
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            Algorithm::ES256,
        ),
    ];
    for (name, key, alg) in cases {
        let f = fixture(key, alg, false);
        let env = Envelope::parse(&f.envelope_bytes).unwrap();
        let sig = nv2::signature::decode_base64(&env.signatures()[0].sig).unwrap();
        let key = f.cert.public_key().clone();
        c.bench_function(&format!("signature verify {name}"), |b| {
            b.iter(|| {
                key.verify(alg, black_box(env.signed_bytes()), black_box(&sig))
                    .unwrap()
            })
        });
        let trust = TrustMaterial::new(vec![f.cert.clone()], vec![]).unwrap();
        let req = Requirements {
            trust: &trust,
            identities: &Identities::Any,
            now: nv2::time::now(),
        };
        c.bench_function(&format!("parse + verify .nv2 (kid) {name}"), |b| {
            b.iter(|| {
                let env = Envelope::parse(black_box(&f.envelope_bytes)).unwrap();
                assert!(verify_envelope(&env, &f.subject, &req).is_verified());
            })
        });
    }
    let f = fixture(rsa_key(), Algorithm::RS256, false);
    c.bench_function("parse .nv2 (kid)", |b| {
        b.iter(|| Envelope::parse(black_box(&f.envelope_bytes)).unwrap())
    });
    let x = fixture(rsa_key(), Algorithm::RS256, true);
    c.bench_function("parse .nv2 (x5c)", |b| {
        b.iter(|| Envelope::parse(black_box(&x.envelope_bytes)).unwrap())
    });
    let trust = TrustMaterial::new(vec![x.cert.clone()], vec![]).unwrap();
    let req = Requirements {
        trust: &trust,
        identities: &Identities::Any,
        now: nv2::time::now(),
    };
    c.bench_function("parse + verify .nv2 (x5c, pinned) RS256-2048", |b| {
        b.iter(|| {
            let env = Envelope::parse(black_box(&x.envelope_bytes)).unwrap();
            assert!(verify_envelope(&env, &x.subject, &req).is_verified());
        })
    });
    // Notation's own JWS (PS256, RSA-2048, one self-signed certificate in
    // x5c, pinned; tests/data/notation/NOTICE).
    let jws = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/notation/jws_signature.sig"
    ))
    .unwrap();
    let alpine = Certificate::from_pem(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/notation/alpine-2123.crt"
        ))
        .unwrap(),
    )
    .unwrap();
    let trust = TrustMaterial::new(alpine, vec![]).unwrap();
    let req = Requirements {
        trust: &trust,
        identities: &Identities::Any,
        now: nv2::time::now(),
    };
    let target = Subject {
        digest: Digest::parse(
            "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0",
        )
        .unwrap(),
        size: Some(481),
        name: None,
    };
    c.bench_function(
        "parse + verify Notation JWS PS256-2048 (x5c, pinned)",
        |b| {
            b.iter(|| {
                let v = nv2::verify::verify_notation_jws(
                    black_box(&jws),
                    &target,
                    Some("application/vnd.oci.image.manifest.v1+json"),
                    &req,
                )
                .unwrap();
                assert!(v.is_verified());
            })
        },
    );
    c.bench_function("certificate parse (x509-parser + facts)", |b| {
        b.iter(|| Certificate::from_der(black_box(x.cert.der().to_vec())).unwrap())
    });
}

criterion_group!(verify, benches);
criterion_main!(verify);
