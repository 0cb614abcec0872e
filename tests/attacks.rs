//! Regression tests for the attacks of the first security review: each one
//! made a signature verify (or cost seconds) that must not. Every test also
//! has a control that must verify, so a check that simply fails everything
//! cannot pass here.

use nv2::oci::Digest;
use nv2::signature::Certificate;
use nv2::signature::Name;
use nv2::signature::TrustMaterial;
use nv2::signature::{Algorithm, SigningKey};
use nv2::signature::{Envelope, SignedContent, Signer};
use nv2::verify::{Discovered, FoundSignature, MAX_IMAGE_SIGNATURES, verify_found};
use nv2::verify::{Identities, Requirements, Subject, Verdict, verify_envelope};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, GeneralSubtree, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, NameConstraints,
};
use time::{Duration, OffsetDateTime};

/// A key and its certificate, in rcgen's and nv2's forms.
struct Party {
    key: KeyPair,
    params: CertificateParams,
    cert: Certificate,
}

fn key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

fn params(cn: &str, sans: &[&str], days: (i64, i64)) -> CertificateParams {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = OffsetDateTime::now_utc();
    p.not_before = now + Duration::days(days.0);
    p.not_after = now + Duration::days(days.1);
    p
}

fn ca_params(cn: &str, days: (i64, i64)) -> CertificateParams {
    let mut p = params(cn, &[], days);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn self_signed(p: CertificateParams) -> Party {
    let key = key();
    let der = p.self_signed(&key).unwrap().der().to_vec();
    Party {
        key,
        params: p,
        cert: Certificate::from_der(der).unwrap(),
    }
}

fn issued(p: CertificateParams, by: &Party) -> Party {
    let key = key();
    let issuer = Issuer::from_params(&by.params, &by.key);
    let der = p.signed_by(&key, &issuer).unwrap().der().to_vec();
    Party {
        key,
        params: p,
        cert: Certificate::from_der(der).unwrap(),
    }
}

fn leaf_params(cn: &str, sans: &[&str]) -> CertificateParams {
    let mut p = params(cn, sans, (-1, 30));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p
}

const MANIFEST: &[u8] = b"{\"schemaVersion\":2}";

fn subject() -> Subject {
    Subject {
        digest: Digest::of(MANIFEST),
        size: Some(MANIFEST.len() as u64),
        name: None,
    }
}

fn signed_by(signer: &Party, chain: &[&Certificate], reference: &str) -> Envelope {
    let content = SignedContent {
        digest: subject().digest.to_string(),
        size: MANIFEST.len() as u64,
        references: vec![reference.to_owned()],
        exp: 0,
        nbf: 0,
        iat: nv2::time::now(),
    };
    let key = SigningKey::from_pem(signer.key.serialize_pem().as_bytes()).unwrap();
    let signer = Signer::with_chain(
        key,
        Algorithm::ES256,
        chain.iter().map(|c| (*c).clone()).collect(),
    );
    Envelope::sign(&content, &signer).unwrap()
}

fn check(env: &Envelope, trust: &TrustMaterial, identities: &Identities) -> Verdict {
    let req = Requirements {
        trust,
        identities,
        now: nv2::time::now(),
    };
    verify_envelope(env, &subject(), &req)
}

fn reasons(v: &Verdict) -> String {
    v.reasons().join("\n")
}

fn identity(dn: &str) -> Identities {
    Identities::Subjects(vec![Name::parse_rfc4514(dn).unwrap()])
}

#[test]
fn an_identity_cannot_be_smuggled_inside_an_rdn_value() {
    let root = self_signed(ca_params("Acme Root", (-1, 365)));
    let trust = TrustMaterial::from_store_certificates(vec![root.cert.clone()]).unwrap();
    let wanted = identity("CN=release.acme.example");
    let evil = issued(
        leaf_params("dev, CN=release.acme.example", &["registry.example.com"]),
        &root,
    );
    let v = check(
        &signed_by(&evil, &[&evil.cert], "registry.example.com/app:v1"),
        &trust,
        &wanted,
    );
    assert!(!v.is_verified());
    assert!(
        reasons(&v).contains("not a trusted identity"),
        "{}",
        reasons(&v)
    );
    // A second CN does not help either: which one counts would be ambiguous
    // (openssl writes two CN attributes; rcgen keeps one per type).
    let dir = tempfile::tempdir().unwrap();
    let (k, c) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=dev/CN=release.acme.example", "-days", "30"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "subjectAltName=DNS:registry.example.com"])
        .arg("-keyout")
        .arg(&k)
        .arg("-out")
        .arg(&c)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let two_cns = Certificate::load_pem_file(&c).unwrap().remove(0);
    let key = SigningKey::from_pem(&std::fs::read(&k).unwrap()).unwrap();
    let content = SignedContent {
        digest: subject().digest.to_string(),
        size: MANIFEST.len() as u64,
        references: vec!["registry.example.com/app:v1".into()],
        exp: 0,
        nbf: 0,
        iat: nv2::time::now(),
    };
    let env = Envelope::sign(
        &content,
        &Signer::with_chain(key, Algorithm::ES256, vec![two_cns.clone()]),
    )
    .unwrap();
    let pinned = TrustMaterial::from_store_certificates(vec![two_cns]).unwrap();
    let v = check(&env, &pinned, &wanted);
    assert!(
        reasons(&v).contains("not a trusted identity"),
        "{}",
        reasons(&v)
    );
    assert!(check(&env, &pinned, &Identities::Any).is_verified());
    // Control: the real signer.
    let real = issued(
        leaf_params("release.acme.example", &["registry.example.com"]),
        &root,
    );
    let v = check(
        &signed_by(&real, &[&real.cert], "registry.example.com/app:v1"),
        &trust,
        &wanted,
    );
    assert!(v.is_verified(), "{}", reasons(&v));
}

#[test]
fn a_signing_certificate_in_a_store_is_never_an_issuer() {
    // A signer's own self-signed (non-CA) certificate, trusted in a store.
    let signer = self_signed(leaf_params("dev signer", &["registry.example.com"]));
    let trust = TrustMaterial::from_store_certificates(vec![signer.cert.clone()]).unwrap();
    assert_eq!(trust.roots().count(), 0);
    // Control: its own signatures verify (x5c of itself).
    let v = check(
        &signed_by(&signer, &[&signer.cert], "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(v.is_verified(), "{}", reasons(&v));
    // The attack: its key mints a leaf with another subject and validity.
    let mut minted = leaf_params("trusted release", &["evil.example.org"]);
    minted.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
    let minted = issued(minted, &signer);
    let v = check(
        &signed_by(
            &minted,
            &[&minted.cert, &signer.cert],
            "evil.example.org/app:v1",
        ),
        &trust,
        &identity("CN=trusted release"),
    );
    assert!(!v.is_verified());
    assert!(
        reasons(&v).contains("no CA certificate is trusted"),
        "{}",
        reasons(&v)
    );
}

#[test]
fn a_ca_root_must_be_a_ca_that_may_issue_and_be_valid_now() {
    let signer = self_signed(leaf_params("not a ca", &["registry.example.com"]));
    let err = TrustMaterial::new(vec![], vec![signer.cert.clone()]).unwrap_err();
    assert!(
        matches!(&err, nv2::signature::TrustError::NotACa { subject } if subject.contains("not a ca")),
        "{err}"
    );
    assert!(err.to_string().contains("cannot be a CA root"), "{err}");
    // CA:TRUE, but its key usage forbids certificate signing.
    let mut no_sign = ca_params("CA without keyCertSign", (-1, 365));
    no_sign.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let no_sign = self_signed(no_sign);
    assert!(TrustMaterial::from_store_certificates(vec![no_sign.cert.clone()]).is_err());
    // An expired root anchors nothing.
    let expired = self_signed(ca_params("Expired Root", (-400, -1)));
    let trust = TrustMaterial::new(vec![], vec![expired.cert.clone()]).unwrap();
    let leaf = issued(leaf_params("app", &["registry.example.com"]), &expired);
    let v = check(
        &signed_by(&leaf, &[&leaf.cert], "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    assert!(reasons(&v).contains("valid now"), "{}", reasons(&v));
    // An intermediate whose key usage forbids issuing cannot issue.
    let root = self_signed(ca_params("Root", (-1, 365)));
    let mut bad_int = ca_params("Intermediate", (-1, 365));
    bad_int.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let bad_int = issued(bad_int, &root);
    let leaf = issued(leaf_params("app", &["registry.example.com"]), &bad_int);
    let trust = TrustMaterial::new(vec![], vec![root.cert.clone()]).unwrap();
    let v = check(
        &signed_by(
            &leaf,
            &[&leaf.cert, &bad_int.cert],
            "registry.example.com/app:v1",
        ),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    assert!(reasons(&v).contains("keyCertSign"), "{}", reasons(&v));
}

#[test]
fn the_cn_never_escapes_name_constraints() {
    let mut constrained = ca_params("Constrained Root", (-1, 365));
    constrained.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("good.example".into())],
        excluded_subtrees: vec![],
    });
    let constrained = self_signed(constrained);
    let trust = TrustMaterial::new(vec![], vec![constrained.cert.clone()]).unwrap();
    // No SAN: the CN would have been taken as the registry name.
    let leaf = issued(leaf_params("evil.example", &[]), &constrained);
    let v = check(
        &signed_by(&leaf, &[&leaf.cert], "evil.example/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    assert!(
        reasons(&v).contains("names registry evil.example"),
        "{}",
        reasons(&v)
    );
    // Control: the SAN the constraint permits.
    let leaf = issued(leaf_params("app", &["registry.good.example"]), &constrained);
    let v = check(
        &signed_by(&leaf, &[&leaf.cert], "registry.good.example/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(v.is_verified(), "{}", reasons(&v));
    // Control: without constraints, a SAN-less leaf's single CN still names it.
    let open = self_signed(ca_params("Open Root", (-1, 365)));
    let trust = TrustMaterial::new(vec![], vec![open.cert.clone()]).unwrap();
    let leaf = issued(leaf_params("registry.example.com", &[]), &open);
    let v = check(
        &signed_by(&leaf, &[&leaf.cert], "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(v.is_verified(), "{}", reasons(&v));
}

#[test]
fn many_issuers_of_one_name_cannot_make_path_building_explode() {
    let root = self_signed(ca_params("Root", (-1, 365)));
    let trust = TrustMaterial::new(vec![], vec![root.cert.clone()]).unwrap();
    // Nine CA certificates that share one name, each issued by the root.
    let same: Vec<Party> = (0..9)
        .map(|_| issued(ca_params("Intermediate", (-1, 365)), &root))
        .collect();
    let leaf = issued(leaf_params("app", &["registry.example.com"]), &same[0]);
    let mut chain = vec![&leaf.cert];
    chain.extend(same.iter().map(|p| &p.cert));
    let started = std::time::Instant::now();
    let v = check(
        &signed_by(&leaf, &chain, "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    assert!(reasons(&v).contains("x5c"), "{}", reasons(&v));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // An unordered chain is refused before any path building.
    let int = issued(ca_params("Intermediate", (-1, 365)), &root);
    let leaf = issued(leaf_params("app", &["registry.example.com"]), &int);
    let v = check(
        &signed_by(
            &leaf,
            &[&leaf.cert, &root.cert, &int.cert],
            "registry.example.com/app:v1",
        ),
        &trust,
        &Identities::Any,
    );
    assert!(
        reasons(&v).contains("not an ordered chain"),
        "{}",
        reasons(&v)
    );
    // Control: the ordered chain, with or without the root at its end.
    for chain in [
        vec![&leaf.cert, &int.cert],
        vec![&leaf.cert, &int.cert, &root.cert],
    ] {
        let v = check(
            &signed_by(&leaf, &chain, "registry.example.com/app:v1"),
            &trust,
            &Identities::Any,
        );
        assert!(v.is_verified(), "{}", reasons(&v));
    }
}

#[test]
fn a_pass_never_outlives_an_issuer() {
    let root = self_signed(ca_params("Root", (-1, 3650)));
    let int = issued(ca_params("Short Intermediate", (-1, 2)), &root);
    let leaf = issued(leaf_params("app", &["registry.example.com"]), &int);
    let trust = TrustMaterial::new(vec![], vec![root.cert.clone()]).unwrap();
    let v = check(
        &signed_by(
            &leaf,
            &[&leaf.cert, &int.cert],
            "registry.example.com/app:v1",
        ),
        &trust,
        &Identities::Any,
    );
    assert!(v.is_verified(), "{}", reasons(&v));
    let until = v.valid_until().unwrap();
    assert_eq!(until, int.cert.not_after());
    assert!(until < leaf.cert.not_after());
}

#[test]
fn the_work_one_image_can_cause_is_bounded() {
    let signer = self_signed(leaf_params("signer", &["registry.example.com"]));
    let trust = TrustMaterial::from_store_certificates(vec![signer.cert.clone()]).unwrap();
    let stranger = self_signed(leaf_params("stranger", &["registry.example.com"]));
    // A junk file of 32 untrusted signatures.
    let mut junk = signed_by(&stranger, &[&stranger.cert], "registry.example.com/app:v1");
    let key = SigningKey::from_pem(stranger.key.serialize_pem().as_bytes()).unwrap();
    let co = Signer::with_chain(key, Algorithm::ES256, vec![stranger.cert.clone()]);
    for _ in 1..32 {
        junk.append(&co).unwrap();
    }
    let good = signed_by(&signer, &[&signer.cert], "registry.example.com/app:v1");
    let found = |files: Vec<Envelope>| Discovered {
        signatures: files
            .into_iter()
            .enumerate()
            .map(|(i, env)| FoundSignature {
                manifest_digest: format!("sha256:{i:064x}"),
                created: None,
                envelope: Ok(nv2::signature::SignatureEnvelope::Nv2(env)),
            })
            .collect(),
        truncated: false,
    };
    let req = Requirements {
        trust: &trust,
        identities: &Identities::Any,
        now: nv2::time::now(),
    };
    // Five junk files hold 160 signatures: only MAX_IMAGE_SIGNATURES are checked.
    let mut files = vec![junk.clone(); 5];
    files.push(good.clone());
    let v = verify_found(found(files), &subject(), &req);
    let checked: usize = v
        .signatures
        .iter()
        .filter_map(|s| s.verdict.as_ref().ok())
        .flat_map(|v| &v.signatures)
        .filter(|s| s.signer.is_some())
        .count();
    assert_eq!(checked, MAX_IMAGE_SIGNATURES);
    assert!(v.truncated);
    assert!(!v.is_verified());
    assert!(
        v.reasons()[0].contains("more signatures are linked"),
        "{:?}",
        v.reasons()
    );
    // Control: ahead of the junk, the good signature is found.
    let mut files = vec![good];
    files.extend(vec![junk; 3]);
    let v = verify_found(found(files), &subject(), &req);
    assert!(v.is_verified(), "{:?}", v.reasons());
    assert!(!v.truncated);
}

#[test]
fn padded_referrer_lists_keep_the_signature() {
    use nv2::oci::{Descriptor, MAX_REFERRERS, select_referrers};
    let desc = |i: usize, ty: &str| -> Descriptor {
        serde_json::from_value(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{i:064x}"),
            "size": 100,
            "artifactType": ty,
        }))
        .unwrap()
    };
    let sig = nv2::oci::ARTIFACT_TYPE;
    // 150 junk referrers of another type and the same signature 3 times.
    let mut list: Vec<Descriptor> = (0..150).map(|i| desc(i, "application/junk")).collect();
    list.extend((0..3).map(|_| desc(1000, sig)));
    let r = select_referrers(list, sig);
    assert_eq!(r.descriptors.len(), 1);
    assert!(!r.truncated);
    // More signature referrers than the cap: cut, and said so.
    let list: Vec<Descriptor> = (0..MAX_REFERRERS + 5).map(|i| desc(i, sig)).collect();
    let r = select_referrers(list, sig);
    assert_eq!(r.descriptors.len(), MAX_REFERRERS);
    assert!(r.truncated);
}

#[test]
fn a_signature_for_one_image_name_cannot_admit_another() {
    let root = self_signed(ca_params("Root", (-1, 365)));
    let trust = TrustMaterial::new(vec![], vec![root.cert.clone()]).unwrap();
    let dev = issued(leaf_params("dev", &["dev.example.com"]), &root);
    let env = signed_by(&dev, &[&dev.cert], "dev.example.com/sandbox:v1");
    let named = |name: &str| Subject {
        name: Some(name.to_owned()),
        ..subject()
    };
    let req = Requirements {
        trust: &trust,
        identities: &Identities::Any,
        now: nv2::time::now(),
    };
    let v = verify_envelope(&env, &named("localhost:5611/prod"), &req);
    assert!(!v.is_verified());
    assert!(
        reasons(&v).contains("is for dev.example.com/sandbox:v1, not for localhost:5611/prod"),
        "{}",
        reasons(&v)
    );
    // Control: the image it names (any tag: the digest is what is signed).
    let v = verify_envelope(&env, &named("dev.example.com/sandbox"), &req);
    assert!(v.is_verified(), "{}", reasons(&v));
}

#[test]
fn a_roots_path_length_and_every_extended_key_usage_hold() {
    // A root that allows no CA below it.
    let mut p = ca_params("Root pathlen 0", (-1, 365));
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let root = self_signed(p);
    let sub = issued(ca_params("Sub CA", (-1, 365)), &root);
    let leaf = issued(leaf_params("release", &["registry.example.com"]), &sub);
    let trust = TrustMaterial::new(vec![], vec![root.cert.clone()]).unwrap();
    let v = check(
        &signed_by(
            &leaf,
            &[&leaf.cert, &sub.cert],
            "registry.example.com/app:v1",
        ),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    assert!(reasons(&v).contains("pathLenConstraint"), "{}", reasons(&v));
    // Control: a leaf straight under it.
    let direct = issued(leaf_params("release", &["registry.example.com"]), &root);
    let v = check(
        &signed_by(&direct, &[&direct.cert], "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(v.is_verified(), "{}", reasons(&v));
    // A root restricted to TLS cannot anchor a code signer.
    let mut p = ca_params("TLS Root", (-1, 365));
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let tls_root = self_signed(p);
    let mut lp = leaf_params("release", &["registry.example.com"]);
    lp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let leaf = issued(lp, &tls_root);
    let trust = TrustMaterial::new(vec![], vec![tls_root.cert.clone()]).unwrap();
    let v = check(
        &signed_by(&leaf, &[&leaf.cert], "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    assert!(
        reasons(&v).contains("without codeSigning"),
        "{}",
        reasons(&v)
    );
    // A pinned signing certificate restricted to TLS signs nothing.
    let mut sp = leaf_params("tls only", &["registry.example.com"]);
    sp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let tls_signer = self_signed(sp);
    let trust = TrustMaterial::from_store_certificates(vec![tls_signer.cert.clone()]).unwrap();
    let v = check(
        &signed_by(
            &tls_signer,
            &[&tls_signer.cert],
            "registry.example.com/app:v1",
        ),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    assert!(
        reasons(&v).contains("without codeSigning"),
        "{}",
        reasons(&v)
    );
}

#[test]
fn a_reissued_root_cannot_lift_its_twins_constraints() {
    let key = key();
    let mut strict = ca_params("Twin Root", (-1, 365));
    strict.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let open = ca_params("Twin Root", (-1, 365));
    let as_party = |p: CertificateParams| {
        let der = p.self_signed(&key).unwrap().der().to_vec();
        Certificate::from_der(der).unwrap()
    };
    let (strict_cert, open_cert) = (as_party(strict), as_party(open.clone()));
    let root = Party {
        key: KeyPair::from_pem(&key.serialize_pem()).unwrap(),
        params: open,
        cert: open_cert.clone(),
    };
    let sub = issued(ca_params("Sub CA", (-1, 365)), &root);
    let leaf = issued(leaf_params("release", &["registry.example.com"]), &sub);
    let env = signed_by(
        &leaf,
        &[&leaf.cert, &sub.cert],
        "registry.example.com/app:v1",
    );
    for roots in [
        vec![strict_cert.clone(), open_cert.clone()],
        vec![open_cert.clone(), strict_cert.clone()],
    ] {
        let trust = TrustMaterial::new(vec![], roots).unwrap();
        let v = check(&env, &trust, &Identities::Any);
        assert!(!v.is_verified(), "order of the store decided");
        assert!(reasons(&v).contains("pathLenConstraint"), "{}", reasons(&v));
    }
}

/// Anyone can write a certificate's names (an `x5c` chain is unsigned
/// metadata until verified): control characters and invisible formatting in
/// them must never reach a reason, a log line or a terminal as is — a
/// newline would forge a "verified" line, an escape sequence drive the
/// terminal. (Found by an attack on the release binary.)
#[test]
fn names_in_certificates_cannot_forge_lines_or_drive_terminals() {
    let evil_cn = "evil\nnv2: OK verified\u{1b}[2J\u{202e}";
    let root = self_signed(ca_params("Acme Root", (-1, 365)));
    let trust = TrustMaterial::from_store_certificates(vec![root.cert.clone()]).unwrap();
    // An untrusted self-signed leaf: denied, and its name is quoted safely.
    let stranger = self_signed(leaf_params(evil_cn, &["registry.example.com"]));
    let v = check(
        &signed_by(&stranger, &[&stranger.cert], "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(!v.is_verified());
    let text = reasons(&v);
    assert!(!text.is_empty());
    for line in v.reasons() {
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "raw control character in {line:?}"
        );
    }
    assert!(
        text.contains("\\u{a}") && text.contains("\\u{1b}"),
        "{text}"
    );
    assert!(
        stranger.cert.subject().contains("evil\\u{a}nv2"),
        "{}",
        stranger.cert.subject()
    );
    // Control: a trusted signer with an ordinary name verifies.
    let good = issued(leaf_params("release", &["registry.example.com"]), &root);
    let v = check(
        &signed_by(&good, &[&good.cert], "registry.example.com/app:v1"),
        &trust,
        &Identities::Any,
    );
    assert!(v.is_verified(), "{}", reasons(&v));
}
