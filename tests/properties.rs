//! Property tests (proptest, stable Rust): every parser of untrusted input
//! (`.nv2` files, image references, trust policies, AdmissionReviews,
//! distinguished names) never panics and round-trips where a round trip
//! exists; and no mutation of a signature file, of its certificate chain or of
//! what it signs turns a deny into an allow.
//!
//! `make test` runs 256 cases per property (proptest's default). A longer run:
//! `PROPTEST_CASES=20000 cargo test --release --test properties`.

use base64::Engine;
use nv2::oci::Digest;
use nv2::oci::Reference;
use nv2::signature::Certificate;
use nv2::signature::Name;
use nv2::signature::TrustMaterial;
use nv2::signature::{Algorithm, SigningKey};
use nv2::signature::{Envelope, SignedContent, Signer};
use nv2::verify::{Identities, Requirements, Subject, verify_envelope};
use proptest::prelude::*;
use std::sync::OnceLock;

// ---------- parsers never panic, and round-trip ----------

proptest! {
    #[test]
    fn references_parse_without_panic_and_round_trip(input in ".{0,120}") {
        if let Ok(r) = Reference::parse(&input) {
            let again = Reference::parse(&r.to_string()).expect("a parsed reference re-parses");
            prop_assert_eq!(&again, &r);
            prop_assert_eq!(Reference::parse(&r.repo_name()).unwrap().repo_name(), r.repo_name());
        }
    }

    #[test]
    fn reference_like_strings_never_panic(
        input in "[a-zA-Z0-9.:/@_\\-\\[\\]]{0,80}(@sha256:[0-9a-f]{64})?"
    ) {
        let _ = Reference::parse(&input);
    }

    #[test]
    fn every_spelling_of_a_registry_is_one_registry(
        host in prop_oneof![
            Just("localhost".to_owned()),
            Just("registry.example.com".to_owned()),
            Just("127.0.0.1".to_owned()),
            Just("[::1]".to_owned()),
            Just("[2001:db8::7]".to_owned()),
        ],
        upper in proptest::collection::vec(any::<bool>(), 32),
        port in prop_oneof![Just(None), Just(Some(443u16)), (1u16..=65535).prop_map(Some)],
        zeros in 0usize..4,
        v6_long in any::<bool>(),
    ) {
        let canonical_port = port.filter(|p| *p != 443);
        let canonical = match canonical_port {
            Some(p) => format!("{host}:{p}/app"),
            None => format!("{host}/app"),
        };
        let mut spelled: String = host
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
            .collect();
        if v6_long && host == "[::1]" {
            spelled = "[0:0:0:0:0:0:0:1]".into();
        }
        if let Some(p) = port {
            spelled = format!("{spelled}:{}{p}", "0".repeat(zeros));
        }
        let spelled = format!("{spelled}/app:v1");
        let r = Reference::parse(&spelled).expect("a valid spelling parses");
        prop_assert_eq!(r.repo_name(), canonical);
    }

    #[test]
    fn signature_files_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::parse(&bytes);
    }

    #[test]
    fn json_shaped_signature_files_never_panic(
        digest in "(sha256:[0-9a-f]{64}|[a-z0-9:]{0,20})",
        size in any::<i64>(),
        refs in proptest::collection::vec(".{0,20}", 0..3),
        sigs in proptest::collection::vec(("[a-z0-9]{0,6}", "[A-Za-z0-9+/=]{0,20}", "[A-Z0-9]{0,6}", proptest::option::of("[A-Z0-9:]{0,20}")), 0..4),
    ) {
        let doc = serde_json::json!({
            "signed": {"digest": digest, "size": size, "references": refs},
            "signatures": sigs.iter().map(|(t, s, a, k)| serde_json::json!({"typ": t, "sig": s, "alg": a, "kid": k})).collect::<Vec<_>>(),
        });
        if let Ok(env) = Envelope::parse(doc.to_string().as_bytes()) {
            // Round trip: written back, the signed bytes are unchanged.
            let again = Envelope::parse(&env.to_bytes()).unwrap();
            prop_assert_eq!(again.signed_bytes(), env.signed_bytes());
            // Verifying garbage never passes.
            let f = fixture();
            let req = Requirements { trust: &f.trust, identities: &Identities::Any, now: nv2::time::now() };
            prop_assert!(!verify_envelope(&env, &f.subject, &req).is_verified());
        }
    }

    #[test]
    fn trust_policies_parse_without_panic(input in ".{0,200}") {
        let _ = nv2::policy::TrustPolicy::parse(input.as_bytes(), &Default::default());
    }

    #[test]
    fn policy_shaped_documents_never_panic(
        scopes in proptest::collection::vec("[a-zA-Z0-9.:/*@\\[\\]_-]{0,30}", 0..4),
        level in "(strict|permissive|audit|skip|[a-z]{0,8})",
        stores in proptest::collection::vec("(ca|signingAuthority|tsa|x)(:[a-z]{0,6})?", 0..3),
        ids in proptest::collection::vec("(\\*|x509\\.subject: ?[A-Za-z=, \\\\+#\"]{0,30}|.{0,10})", 0..3),
        over in proptest::collection::btree_map("[a-zA-Z]{0,12}", "(enforce|log|skip|[a-z]{0,5})", 0..3),
    ) {
        let doc = serde_json::json!({"version": "1.0", "trustPolicies": [{
            "name": "p", "registryScopes": scopes,
            "signatureVerification": {"level": level, "override": over},
            "trustStores": stores, "trustedIdentities": ids}]});
        let _ = nv2::policy::TrustPolicy::parse(doc.to_string().as_bytes(), &Default::default());
    }

    #[test]
    fn admission_reviews_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = nv2::admission::parse_review(&bytes);
    }

    #[test]
    fn admission_objects_of_any_shape_never_panic(object in json_value(), kind in prop_oneof![
        Just(("", "Pod")), Just(("apps", "Deployment")), Just(("batch", "CronJob")), Just(("", "ReplicationController"))
    ]) {
        let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u", "kind": {"group": kind.0, "version": "v1", "kind": kind.1},
                        "operation": "CREATE", "object": object}});
        let req = nv2::admission::parse_review(review.to_string().as_bytes()).unwrap();
        let _ = nv2::admission::scope(&req);
    }

    #[test]
    fn distinguished_names_parse_without_panic(input in ".{0,80}") {
        if let Ok(name) = Name::parse_rfc4514(&input) {
            prop_assert_eq!(Name::parse_rfc4514(&name.to_string()).unwrap(), name);
        }
    }

    #[test]
    fn distinguished_names_round_trip(values in proptest::collection::vec("[^\u{0}]{1,12}", 1..5)) {
        let types = ["CN", "O", "OU", "C", "ST"];
        let text = values
            .iter()
            .zip(types)
            .map(|(v, t)| format!("{t}={}", escape(v)))
            .collect::<Vec<_>>()
            .join(", ");
        // Values made only of spaces have no RFC 4514 spelling but escapes.
        let name = Name::parse_rfc4514(&text).unwrap();
        prop_assert_eq!(name.attributes().len(), values.len());
        for (attr, v) in name.attributes().iter().zip(&values) {
            prop_assert_eq!(attr.value.as_deref(), Some(v.as_str()));
        }
        prop_assert_eq!(Name::parse_rfc4514(&name.to_string()).unwrap(), name);
    }
}

/// Every character escaped as hex: a spelling of any value.
fn escape(v: &str) -> String {
    v.bytes().map(|b| format!("\\{b:02x}")).collect()
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z:/.0-9]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("spec".to_owned()),
                    Just("template".to_owned()),
                    Just("jobTemplate".to_owned()),
                    Just("containers".to_owned()),
                    Just("initContainers".to_owned()),
                    Just("ephemeralContainers".to_owned()),
                    Just("volumes".to_owned()),
                    Just("image".to_owned()),
                    Just("reference".to_owned()),
                    Just("imagePullSecrets".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

// ---------- no mutation turns a deny into an allow ----------

struct Fixture {
    /// A file signed by the trusted leaf (x5c: leaf, intermediate).
    valid: Vec<u8>,
    /// A file signed by an untrusted key that carries the trusted chain.
    untrusted: Vec<u8>,
    trust: TrustMaterial,
    subject: Subject,
    chain_der: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let gen_key = || KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut root_p = CertificateParams::new(Vec::<String>::new()).unwrap();
        root_p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        root_p
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Root");
        let root_k = gen_key();
        let root = root_p.self_signed(&root_k).unwrap();
        let mut int_p = CertificateParams::new(Vec::<String>::new()).unwrap();
        int_p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        int_p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        int_p
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Intermediate");
        let int_k = gen_key();
        let int = int_p
            .signed_by(&int_k, &Issuer::from_params(&root_p, &root_k))
            .unwrap();
        let mut leaf_p = CertificateParams::new(vec!["registry.example.com".to_owned()]).unwrap();
        leaf_p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_p
            .distinguished_name
            .push(rcgen::DnType::CommonName, "release");
        let leaf_k = gen_key();
        let leaf = leaf_p
            .signed_by(&leaf_k, &Issuer::from_params(&int_p, &int_k))
            .unwrap();
        let chain_der = vec![leaf.der().to_vec(), int.der().to_vec()];
        let chain: Vec<Certificate> = chain_der
            .iter()
            .map(|d| Certificate::from_der(d.clone()).unwrap())
            .collect();
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
            exp: nv2::time::now() + 86_400,
            nbf: 0,
            iat: nv2::time::now(),
        };
        let sign = |k: &KeyPair| {
            let key = SigningKey::from_pem(k.serialize_pem().as_bytes()).unwrap();
            Envelope::sign(
                &content,
                &Signer::with_chain(key, Algorithm::ES256, chain.clone()),
            )
            .unwrap()
            .to_bytes()
        };
        let trust = TrustMaterial::new(
            vec![],
            vec![Certificate::from_der(root.der().to_vec()).unwrap()],
        )
        .unwrap();
        Fixture {
            valid: sign(&leaf_k),
            untrusted: sign(&gen_key()),
            trust,
            subject,
            chain_der,
        }
    })
}

fn verifies(bytes: &[u8]) -> bool {
    let f = fixture();
    let Ok(env) = Envelope::parse(bytes) else {
        return false;
    };
    let req = Requirements {
        trust: &f.trust,
        identities: &Identities::Any,
        now: nv2::time::now(),
    };
    verify_envelope(&env, &f.subject, &req).is_verified()
}

#[test]
fn the_fixtures_are_what_they_claim() {
    assert!(verifies(&fixture().valid));
    assert!(!verifies(&fixture().untrusted));
}

proptest! {
    #[test]
    fn no_mutation_of_a_denied_file_is_allowed(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = fixture().untrusted.clone();
        for (at, b) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        prop_assert!(!verifies(&bytes));
    }

    #[test]
    fn no_change_to_what_a_valid_file_signs_is_allowed(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let f = fixture();
        let text = String::from_utf8(f.valid.clone()).unwrap();
        let start = text.find("\"signed\":").unwrap() + 9;
        let end = start + text[start..].find('}').unwrap() + 1;
        let mut bytes = f.valid.clone();
        for (at, b) in &edits {
            let i = start + at.index(end - start);
            bytes[i] = *b;
        }
        // Edits can undo each other: only a file that differs counts.
        prop_assume!(bytes != f.valid);
        prop_assert!(!verifies(&bytes));
    }

    #[test]
    fn no_change_to_a_chain_certificate_is_allowed(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let f = fixture();
        let b64 = base64::engine::general_purpose::STANDARD;
        let original = &f.chain_der[which];
        let mut der = original.clone();
        for (at, b) in &edits {
            let i = at.index(der.len());
            der[i] = *b;
        }
        prop_assume!(&der != original);
        let text = String::from_utf8(f.valid.clone()).unwrap()
            .replace(&b64.encode(original), &b64.encode(&der));
        prop_assert!(!verifies(text.as_bytes()));
    }
}
