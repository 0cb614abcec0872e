//! Every bad input gets a clear one-line reason and the right exit code:
//! 2 for unusable input, 1 for a signature that does not verify. Never a
//! panic, never a pass.

mod common;

use common::Env;
use nv2::signature::Certificate;
use nv2::signature::{Algorithm, SigningKey};
use nv2::signature::{Envelope, SignedContent, Signer};
use rcgen::{CertificateParams, KeyPair};

/// A layout, its manifest, and a keygen RSA key + cert.
fn setup() -> (Env, String, u64) {
    let env = Env::new();
    env.umoci_image("hello", "dev", "a");
    let m = env.nv2(&["manifest", "oci-layout:./hello:dev"]);
    env.write("manifest.json", &m.raw_stdout);
    env.nv2(&[
        "keygen",
        "--cn",
        "registry.example.com",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
    ])
    .ok();
    let digest = nv2::oci::Digest::of(&m.raw_stdout).to_string();
    (env, digest, m.raw_stdout.len() as u64)
}

fn now() -> i64 {
    nv2::time::now()
}

/// A certificate valid from `nbf` to `naf` (Unix seconds) for registry.example.com,
/// written as `stem.crt` / `stem.key`; returns the signer with x5c.
fn cert_with_validity(env: &Env, stem: &str, nbf: i64, naf: i64) -> Signer {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["registry.example.com".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::from_unix_timestamp(nbf).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(naf).unwrap();
    let cert = params.self_signed(&key).unwrap();
    env.write(&format!("{stem}.crt"), cert.pem());
    env.write(&format!("{stem}.key"), key.serialize_pem());
    let signing = SigningKey::from_pem(key.serialize_pem().as_bytes()).unwrap();
    let chain = vec![Certificate::from_der(cert.der().to_vec()).unwrap()];
    Signer::with_chain(signing, Algorithm::ES256, chain)
}

fn content(digest: &str, size: u64) -> SignedContent {
    SignedContent {
        digest: digest.into(),
        size,
        references: vec![],
        exp: 0,
        nbf: 0,
        iat: now(),
    }
}

/// Signs `content` with keygen's key.pem by kid.
fn kid_signed(env: &Env, content: &SignedContent) -> Vec<u8> {
    let key = SigningKey::from_pem(&env.read("key.pem")).unwrap();
    let spki = key.spki_der().unwrap();
    let signer = Signer::with_key_id(key, Algorithm::RS256, &spki);
    Envelope::sign(content, &signer).unwrap().to_bytes()
}

fn verify(env: &Env, file: &str) -> common::Run {
    env.nv2(&[
        "verify",
        "-f",
        file,
        "-c",
        "cert.pem",
        "oci-layout:./hello:dev",
    ])
}

#[test]
fn malformed_files_are_input_errors() {
    let (env, digest, size) = setup();
    let sig = r#"[{"typ":"x509","sig":"AAAA","alg":"RS256","kid":"X"}]"#;
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("hello".into(), "not valid JSON"),
        ("{\"signed\":".into(), "not valid JSON"),
        (format!(r#"{{"signatures":{sig}}}"#), "no \"signed\""),
        (
            format!(r#"{{"signed":{{"digest":"{digest}","size":{size}}}}}"#),
            "no \"signatures\"",
        ),
        (
            format!(r#"{{"signed":{{"digest":"{digest}","size":"{size}"}},"signatures":{sig}}}"#),
            "\"signed\" is malformed",
        ),
        (
            format!(r#"{{"signed":{{"digest":"{digest}","size":{size}}},"signatures":"x"}}"#),
            "not valid JSON",
        ),
        (
            format!(r#"{{"signed":{{"digest":"{digest}","size":-1}},"signatures":{sig}}}"#),
            "\"signed\" is malformed",
        ),
        (
            format!(
                r#"{{"signed":{{"digest":"{}","size":{size}}},"signatures":{sig}}}"#,
                digest.to_uppercase()
            ),
            "signed.digest",
        ),
        (
            format!(r#"{{"signed":{{"digest":"md5:abc","size":{size}}},"signatures":{sig}}}"#),
            "signed.digest",
        ),
        (
            format!(
                r#"{{"signed":{{"digest":"{digest}","size":{size}}},"signatures":[{{"typ":"x509","sig":1,"alg":"RS256"}}]}}"#
            ),
            "not valid JSON",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let name = format!("bad{i}.nv2");
        env.write(&name, text);
        let out = verify(&env, &name);
        out.fails(2, needle);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "not one line: {}",
            out.stderr
        );
    }
}

#[test]
fn per_signature_defects_fail_verification_with_reasons() {
    let (env, digest, size) = setup();
    let good = String::from_utf8(kid_signed(&env, &content(&digest, size))).unwrap();
    verify(&env, &write(&env, "good.nv2", &good)).ok();
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let sig = v["signatures"][0]["sig"].as_str().unwrap().to_owned();
    let cases = [
        (
            good.replace("\"typ\":\"x509\"", "\"typ\":\"pgp\""),
            "unknown signature type",
        ),
        (
            good.replace("\"alg\":\"RS256\"", "\"alg\":\"none\""),
            "unsupported algorithm",
        ),
        (
            good.replace("\"alg\":\"RS256\"", "\"alg\":\"HS256\""),
            "unsupported algorithm",
        ),
        (
            good.replace("\"alg\":\"RS256\"", "\"alg\":\"ES256\""),
            "does not fit",
        ),
        (
            good.replace("\"alg\":\"RS256\"", "\"alg\":\"PS256\""),
            "does not verify",
        ),
        (
            good.replace(&sig, &format!("{}!", &sig[1..])),
            "not valid base64",
        ),
        (good.replace(&sig, &sig[..sig.len() - 8]), "makes 256"),
        (
            // A different first character (the signature may start with 'A').
            good.replace(
                &sig,
                &format!(
                    "{}{}",
                    if sig.starts_with('A') { 'B' } else { 'A' },
                    &sig[1..]
                ),
            ),
            "does not verify",
        ),
        (
            good.replace("\"kid\":\"", "\"kid\":\"AAAA"),
            "matches no trusted certificate",
        ),
        (
            good.replace("\"kid\":", "\"x5c\":[\"bm90IGEgY2VydA==\"],\"k\":"),
            "x5c[0]",
        ),
        (
            good.replace("\"kid\":", "\"x5c\":[],\"k\":"),
            "\"x5c\" is empty",
        ),
        (good.replace("\"kid\":", "\"k\":"), "neither"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        assert_ne!(text, &good, "case {i} changed nothing");
        let name = write(&env, &format!("c{i}.nv2"), text);
        verify(&env, &name).fails(1, needle);
    }
}

fn write(env: &Env, name: &str, text: &str) -> String {
    env.write(name, text);
    name.to_owned()
}

#[test]
fn alg_of_another_curve_is_refused() {
    let (env, digest, size) = setup();
    env.nv2(&[
        "keygen",
        "--cn",
        "registry.example.com",
        "--ec",
        "p384",
        "-k",
        "p384.pem",
        "-c",
        "p384.crt",
    ])
    .ok();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "p384.pem",
        "-o",
        "p.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let text = String::from_utf8(env.read("p.nv2"))
        .unwrap()
        .replace("ES384", "ES256");
    env.write("p256.nv2", text);
    env.nv2(&[
        "verify",
        "-f",
        "p256.nv2",
        "-c",
        "p384.crt",
        "oci-layout:./hello:dev",
    ])
    .fails(1, "ES256 does not fit the signer's EC P-384 key");
    let _ = (digest, size);
}

#[test]
fn tampered_content_and_pretty_printing_fail() {
    let (env, digest, size) = setup();
    let good = String::from_utf8(kid_signed(&env, &content(&digest, size))).unwrap();
    // A pretty-printed copy no longer verifies: the signed bytes changed.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&good).unwrap())
            .unwrap();
    verify(&env, &write(&env, "pretty.nv2", &pretty))
        .fails(1, "does not verify over the signed content");
    // Changing a signed field breaks the signature.
    let tampered = good.replace(&format!("\"size\":{size}"), &format!("\"size\":{size} "));
    verify(&env, &write(&env, "t.nv2", &tampered)).fails(1, "does not verify");
}

#[test]
fn digest_and_size_must_match_the_target() {
    let (env, digest, size) = setup();
    let other = nv2::oci::Digest::of(b"other").to_string();
    env.write("d.nv2", kid_signed(&env, &content(&other, size)));
    verify(&env, "d.nv2").fails(
        1,
        &format!("the signature is for {other}, but the target is {digest}"),
    );
    env.write("s.nv2", kid_signed(&env, &content(&digest, size + 1)));
    verify(&env, "s.nv2").fails(
        1,
        &format!("{}-byte manifest, but the target is {size} bytes", size + 1),
    );
    // A bare digest has no size to compare: digest alone decides.
    env.nv2(&["verify", "-f", "s.nv2", "-c", "cert.pem", &digest])
        .ok();
}

#[test]
fn signature_time_window_is_enforced() {
    let (env, digest, size) = setup();
    let mut c = content(&digest, size);
    c.exp = now() - 10;
    env.write("exp.nv2", kid_signed(&env, &c));
    verify(&env, "exp.nv2").fails(1, "the signature expired at");
    let mut c = content(&digest, size);
    c.nbf = now() + 3600;
    env.write("nbf.nv2", kid_signed(&env, &c));
    verify(&env, "nbf.nv2").fails(1, "not valid before");
}

#[test]
fn certificate_validity_is_enforced() {
    let (env, digest, size) = setup();
    let expired = cert_with_validity(&env, "old", now() - 86400 * 10, now() - 86400);
    env.write(
        "old.nv2",
        Envelope::sign(&content(&digest, size), &expired)
            .unwrap()
            .to_bytes(),
    );
    env.nv2(&[
        "verify",
        "-f",
        "old.nv2",
        "-c",
        "old.crt",
        "oci-layout:./hello:dev",
    ])
    .fails(1, "expired at");
    let future = cert_with_validity(&env, "new", now() + 86400, now() + 86400 * 10);
    env.write(
        "new.nv2",
        Envelope::sign(&content(&digest, size), &future)
            .unwrap()
            .to_bytes(),
    );
    env.nv2(&[
        "verify",
        "-f",
        "new.nv2",
        "-c",
        "new.crt",
        "oci-layout:./hello:dev",
    ])
    .fails(1, "not valid before");
    // nv2 sign refuses an expired certificate up front.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "old.key",
        "-c",
        "old.crt",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "expired at");
}

#[test]
fn references_must_be_covered_by_the_certificate() {
    let (env, digest, size) = setup();
    let key = SigningKey::from_pem(&env.read("key.pem")).unwrap();
    let chain = Certificate::load_pem_file(&env.path("cert.pem")).unwrap();
    let signer = Signer::with_chain(key, Algorithm::RS256, chain);
    let mut c = content(&digest, size);
    c.references = vec![
        "registry.example.com/hello:v1".into(),
        "evil.example.org/hello:v1".into(),
    ];
    env.write("r.nv2", Envelope::sign(&c, &signer).unwrap().to_bytes());
    verify(&env, "r.nv2").fails(1, "names registry evil.example.org");
    // At sign time too.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
        "-r",
        "evil.example.org/a:1",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "not valid for registry evil.example.org");
    // The seed's CN-only certificate covers its CN.
    env.openssl_self_signed("cn", "localhost", 2048);
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "cn.key",
        "-c",
        "cn.crt",
        "-r",
        "localhost:5000/hello-world:v1.0",
        "-o",
        "cn.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-f",
        "cn.nv2",
        "-c",
        "cn.crt",
        "oci-layout:./hello:dev",
    ])
    .ok();
}

#[test]
fn oversized_inputs_are_refused() {
    let (env, _, _) = setup();
    env.write("big.nv2", vec![b' '; (1 << 20) + 1]);
    verify(&env, "big.nv2").fails(2, "larger than the 1048576-byte limit");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "ok.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let big = vec![b'x'; (4 << 20) + 1];
    env.nv2_stdin(&["verify", "-f", "ok.nv2", "-c", "cert.pem"], Some(&big))
        .fails(2, "larger than the 4194304-byte limit");
    env.write("big.json", &big);
    env.nv2(&["sign", "-m", "x509", "-k", "key.pem", "file:big.json"])
        .fails(2, "larger than");
}

#[test]
fn signing_inputs_are_checked() {
    let (env, _, _) = setup();
    env.nv2(&[
        "keygen",
        "--cn",
        "registry.example.com",
        "-k",
        "k2.pem",
        "-c",
        "c2.pem",
    ])
    .ok();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-c",
        "c2.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "does not match the certificate");
    env.openssl(&["genrsa", "-out", "small.key", "1024"]);
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "small.key",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "1024 bits; at least 2048");
    env.write(
        "garbage.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "garbage.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "garbage.pem");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "cert.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "no private key");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "missing.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "missing.pem");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-c",
        "missing.crt",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "missing.crt");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-r",
        "Not A Ref",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "invalid image reference");
    env.nv2(&[
        "sign",
        "-m",
        "pgp",
        "-k",
        "key.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "pgp");
}

#[test]
fn unusable_targets_and_files_are_input_errors() {
    let (env, digest, _) = setup();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "ok.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-f",
        "ok.nv2",
        "-c",
        "cert.pem",
        "oci-layout:./hello:nope",
    ])
    .fails(2, "no tag \"nope\" (tags: dev)");
    env.nv2(&[
        "verify",
        "-f",
        "ok.nv2",
        "-c",
        "cert.pem",
        "oci-layout:./nowhere:dev",
    ])
    .fails(2, "not an OCI image layout");
    env.nv2(&[
        "verify",
        "-f",
        "missing.nv2",
        "-c",
        "cert.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "missing.nv2");
    env.nv2(&[
        "verify",
        "-f",
        "ok.nv2",
        "-c",
        "missing.crt",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "missing.crt");
    env.write("notcert.pem", "hello");
    env.nv2(&[
        "verify",
        "-f",
        "ok.nv2",
        "-c",
        "notcert.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "no CERTIFICATE");
    env.nv2(&[
        "verify",
        "-f",
        "ok.nv2",
        "-c",
        "cert.pem",
        "file:missing.json",
    ])
    .fails(2, "missing.json");
    env.nv2(&["verify", "-f", "ok.nv2", "-c", "cert.pem", "manifest.json"])
        .fails(2, "unrecognised target");
    env.nv2(&["verify", "-f", "ok.nv2", "-c", "cert.pem", "sha256:1234"])
        .fails(2, "invalid digest");
    env.nv2(&["verify", "-f", "ok.nv2", "-c", "cert.pem"])
        .fails(2, "no input");
    env.nv2(&["manifest", &digest]).fails(2, "only a digest");
    // A layout blob that does not match its digest is refused.
    let hex = digest.strip_prefix("sha256:").unwrap();
    let blob = env.path("hello").join("blobs/sha256").join(hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    env.nv2(&[
        "verify",
        "-f",
        "ok.nv2",
        "-c",
        "cert.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "does not match its digest");
}

#[test]
fn oversized_signature_lists_and_chains_are_refused() {
    let (env, digest, size) = setup();
    let one = String::from_utf8(kid_signed(&env, &content(&digest, size))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    let entry = v["signatures"][0].to_string();
    let signed = &one[one.find("{\"digest\"").unwrap()..one.find(",\"signatures\"").unwrap()];
    let many = format!(
        r#"{{"signed":{signed},"signatures":[{}]}}"#,
        vec![entry.as_str(); 33].join(",")
    );
    env.write("many.nv2", many);
    verify(&env, "many.nv2").fails(1, "holds 33 signatures; at most 32");
    let cert_b64: String = String::from_utf8(env.read("cert.pem"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let chain = vec![format!("\"{cert_b64}\""); 11].join(",");
    let long = one.replace("\"kid\":", &format!("\"x5c\":[{chain}],\"k\":"));
    env.write("long.nv2", long);
    verify(&env, "long.nv2").fails(1, "holds 11 certificates; at most 10");
}

/// An expiry past what a signature can carry is a usage error, never a
/// wrapped (already expired, or negative) time written with exit 0. (Found
/// by attacking the release binary.)
#[test]
fn expiries_too_far_are_refused_not_wrapped() {
    let (env, _, _) = setup();
    for expiry in [
        "18446744073709551615s",
        "9223372036854775808s",
        "307445734561825860m",
        "5124095576030431h",
        "3000000d",
    ] {
        env.nv2(&[
            "sign",
            "-m",
            "x509",
            "-k",
            "key.pem",
            "-e",
            expiry,
            "-o",
            "far.nv2",
            "file:manifest.json",
        ])
        .fails(2, "too far");
        assert!(
            !env.path("far.nv2").exists(),
            "{expiry}: a signature was written"
        );
    }
    // Control: a long but representable expiry signs and verifies.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-e",
        "2000000d",
        "-o",
        "ok.nv2",
        "file:manifest.json",
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-f",
        "ok.nv2",
        "-c",
        "cert.pem",
        "file:manifest.json",
    ])
    .ok();
}

/// Output that cannot be written (a full disk, a closed pipe) fails the
/// command with one line and exit 2 — never a panic and exit 101, and never
/// an exit 0 for output nobody got.
#[test]
fn unwritable_output_is_an_error_not_a_panic() {
    let (env, _, _) = setup();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "s.nv2",
        "file:manifest.json",
    ])
    .ok();
    let run_to_full = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"))
            .args(args)
            .current_dir(env.path(""))
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write"), "{args:?}: {stderr}");
    };
    run_to_full(&["inspect", "s.nv2"]);
    run_to_full(&["inspect", "--output", "json", "s.nv2"]);
    run_to_full(&[
        "verify",
        "-f",
        "s.nv2",
        "-c",
        "cert.pem",
        "file:manifest.json",
    ]);
    run_to_full(&["manifest", "file:manifest.json"]);
    run_to_full(&["completions", "bash"]);
    run_to_full(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "t.nv2",
        "file:manifest.json",
    ]);
    // A closed pipe: the reader went away before nv2 wrote.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A FIFO where a trust directory's file belongs is refused at once, not
/// waited on (the webhook's side is in tests/webhook.rs).
#[test]
fn a_fifo_in_a_trust_directory_is_refused_at_once() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("trust/x509/ca/a")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(env.path("trust/trustpolicy.json"))
            .status()
            .unwrap()
            .success()
    );
    env.nv2(&["policy", "check", "trust"])
        .fails(2, "not a regular file");
}
