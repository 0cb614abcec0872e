//! Notation's own JWS signature (notation-go's test data; see
//! tests/data/notation/NOTICE) through the real binary: `nv2 verify -f` with
//! the signer's certificate gives Notation's verdicts (vectors 21, 23, 24 of
//! the Notation vector table), `nv2 inspect` describes it, and tampered
//! copies never verify.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use common::Env;

const TARGET: &str = "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0";

fn data(name: &str) -> String {
    format!("{}/tests/data/notation/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn notations_jws_verifies_only_for_its_target_and_signer() {
    let env = Env::new();
    let (sig, cert) = (data("jws_signature.sig"), data("alpine-2123.crt"));
    let out = env.nv2(&["verify", "-f", &sig, "-c", &cert, TARGET]).ok();
    assert_eq!(out.trim(), TARGET);
    // Another target (vector 23).
    env.nv2(&[
        "verify",
        "-f",
        &sig,
        "-c",
        &cert,
        "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9",
    ])
    .fails(1, "the signature is for sha256:19dbd2e4");
    // Another signer in the store (vector 24).
    env.keygen("stranger", "k.pem", "c.pem");
    env.nv2(&["verify", "-f", &sig, "-c", "c.pem", TARGET])
        .fails(1, "is not pinned");
    // JSON output carries the failures with their checks.
    let run = env.nv2(&[
        "verify", "-f", &sig, "-c", "c.pem", "--output", "json", TARGET,
    ]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["signatures"][0]["failures"][0]["check"], "authenticity",
        "{v}"
    );
}

#[test]
fn tampered_copies_never_verify() {
    let env = Env::new();
    let cert = data("alpine-2123.crt");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("jws_signature.sig")).unwrap()).unwrap();
    let decode = |k: &str| -> serde_json::Value {
        serde_json::from_slice(&B64URL.decode(original[k].as_str().unwrap()).unwrap()).unwrap()
    };
    let mut cases: Vec<(&str, serde_json::Value)> = Vec::new();
    let mut p = decode("payload");
    p["targetArtifact"]["mediaType"] = "application/vnd.oci.image.index.v1+json".into();
    let mut e = original.clone();
    e["payload"] = B64URL.encode(p.to_string()).into();
    cases.push(("payload", e));
    let mut h = decode("protected");
    h["io.cncf.notary.signingTime"] = "2023-03-14T16:10:03+08:00".into();
    let mut e = original.clone();
    e["protected"] = B64URL.encode(h.to_string()).into();
    cases.push(("protected header", e));
    let mut h = decode("protected");
    h["alg"] = "PS384".into();
    let mut e = original.clone();
    e["protected"] = B64URL.encode(h.to_string()).into();
    cases.push(("alg swap", e));
    let mut h = decode("protected");
    h["io.cncf.notary.signingScheme"] = "notary.x509.signingAuthority".into();
    let mut e = original.clone();
    e["protected"] = B64URL.encode(h.to_string()).into();
    cases.push(("scheme swap", e));
    let mut h = decode("protected");
    h.as_object_mut().unwrap().remove("crit");
    let mut e = original.clone();
    e["protected"] = B64URL.encode(h.to_string()).into();
    cases.push(("crit removed", e));
    let mut sig = B64URL
        .decode(original["signature"].as_str().unwrap())
        .unwrap();
    sig[0] ^= 0x80;
    let mut e = original.clone();
    e["signature"] = B64URL.encode(&sig).into();
    cases.push(("signature bytes", e));
    // An unprotected x5c swapped for another certificate (with its own key).
    env.keygen("alpine", "k.pem", "c.pem");
    let pem = std::fs::read_to_string(env.path("c.pem")).unwrap();
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut e = original.clone();
    e["header"]["x5c"] = serde_json::json!([der_b64]);
    cases.push(("x5c swap", e));
    for (what, tampered) in cases {
        let file = env.write(
            &format!("{}.sig", what.replace(' ', "-")),
            tampered.to_string(),
        );
        let run = env.nv2(&["verify", "-f", file.to_str().unwrap(), "-c", &cert, TARGET]);
        assert_ne!(run.code, 0, "{what} verified: {}", run.stdout);
        assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    }
}

#[test]
fn inspect_describes_a_jws_envelope() {
    let env = Env::new();
    let text = env.nv2(&["inspect", &data("jws_signature.sig")]).ok();
    for want in [
        "Notation JWS",
        TARGET,
        "481 bytes",
        "PS256",
        "notary.x509",
        "Notation/1.0.0",
        "Timestamp:   none",
        "CN=alpine",
    ] {
        assert!(text.contains(want), "{want} missing: {text}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &env.nv2(&["inspect", "--output", "json", &data("jws_signature.sig")])
            .ok(),
    )
    .unwrap();
    assert_eq!(json["target_digest"], TARGET);
    assert_eq!(json["signing_scheme"], "notary.x509");
    assert_eq!(json["certificates"].as_array().unwrap().len(), 1);
    // A JWS that breaks Notation's rules is a one-line input error.
    let bad = env.write(
        "bad.sig",
        br#"{"payload":"e30","protected":"e30","header":{"x5c":[]},"signature":"AA"}"#,
    );
    env.nv2(&["inspect", bad.to_str().unwrap()])
        .fails(2, "bad.sig");
    // The JWS general serialization, or a JWS missing a member: the JWS
    // reader says so (not the .nv2 reader's "missing signed").
    let general = env.write(
        "general.sig",
        br#"{"payload":"e30","signatures":[{"protected":"e30","signature":"AA"}]}"#,
    );
    env.nv2(&["inspect", general.to_str().unwrap()])
        .fails(2, "not a JWS envelope");
    let cert = data("alpine-2123.crt");
    env.nv2(&[
        "verify",
        "-f",
        general.to_str().unwrap(),
        "-c",
        &cert,
        TARGET,
    ])
    .fails(2, "not a JWS envelope");
}

#[test]
fn nv2_signs_jws_that_it_and_the_rules_accept() {
    let env = Env::new();
    env.umoci_image("hello", "dev", "a");
    for (ec, name) in [
        (None, "rsa"),
        (Some("p256"), "p256"),
        (Some("p384"), "p384"),
    ] {
        let (k, c) = (format!("{name}.key"), format!("{name}.crt"));
        let mut keygen = vec!["keygen", "--cn", "signer.example", "-k", &k, "-c", &c];
        if let Some(curve) = ec {
            keygen.extend(["--ec", curve]);
        }
        env.nv2(&keygen).ok();
        let out = format!("{name}.jws");
        let digest = env
            .nv2(&[
                "sign",
                "--envelope",
                "jws",
                "-k",
                &k,
                "-c",
                &c,
                "-e",
                "1h",
                "-o",
                &out,
                "oci-layout:./hello:dev",
            ])
            .ok();
        let verified = env
            .nv2(&["verify", "-f", &out, "-c", &c, "oci-layout:./hello:dev"])
            .ok();
        assert_eq!(verified.trim(), digest.trim(), "{name}");
        let text = env.nv2(&["inspect", &out]).ok();
        assert!(
            text.contains("notary.x509") && text.contains("Expires:"),
            "{text}"
        );
        // Not for another image.
        env.umoci_image("other", "dev", "b");
        env.nv2(&["verify", "-f", &out, "-c", &c, "oci-layout:./other:dev"])
            .fails(1, "the signature is for");
    }
    env.keygen("x", "x.key", "x.crt");
    env.nv2(&[
        "sign",
        "--envelope",
        "jws",
        "-k",
        "x.key",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "needs -c CHAIN");
    env.nv2(&[
        "sign",
        "--envelope",
        "jws",
        "-k",
        "x.key",
        "-c",
        "x.crt",
        "--alg",
        "RS256",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "neither --alg");
    env.nv2(&[
        "sign",
        "--envelope",
        "jws",
        "-k",
        "x.key",
        "-c",
        "rsa.crt",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "does not match");
}
