//! Scenario 1 of the seed, offline, through the real binary with keys and
//! certificates from openssl and `nv2 keygen`, and images from umoci.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::Env;
use sha2::Digest as _;

/// A layout with an image, its manifest in manifest.json, and an RSA key + cert from keygen.
fn setup() -> Env {
    let env = Env::new();
    env.umoci_image("hello", "dev", "a");
    let manifest = env.nv2(&["manifest", "oci-layout:./hello:dev"]);
    assert_eq!(manifest.code, 0, "{}", manifest.stderr);
    env.write("manifest.json", &manifest.raw_stdout);
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
    env
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn seed_scenario_1_sign_and_verify_from_stdin() {
    let env = setup();
    let manifest = env.read("manifest.json");
    let digest = format!("sha256:{}", sha256_hex(&manifest));
    let signed = env.nv2_stdin(
        &[
            "sign",
            "-m",
            "x509",
            "-k",
            "key.pem",
            "-o",
            "hello-world.nv2",
        ],
        Some(&manifest),
    );
    assert_eq!(signed.ok(), digest);
    let out = env.nv2_stdin(
        &["verify", "-f", "hello-world.nv2", "-c", "cert.pem"],
        Some(&manifest),
    );
    assert_eq!(out.ok(), digest);
    // The file is compact, keyed as the seed shows, signed by kid.
    let text = String::from_utf8(env.read("hello-world.nv2")).unwrap();
    assert!(
        text.starts_with(&format!(
            "{{\"signed\":{{\"digest\":\"{digest}\",\"size\":{},\"iat\":",
            manifest.len()
        )),
        "{text}"
    );
    assert!(!text.contains('\n') && !text.contains(": "));
    assert!(
        text.contains("\"typ\":\"x509\"")
            && text.contains("\"alg\":\"RS256\"")
            && text.contains("\"kid\":")
    );
    // The same through the layout and file: targets.
    assert_eq!(
        env.nv2(&[
            "verify",
            "-f",
            "hello-world.nv2",
            "-c",
            "cert.pem",
            "oci-layout:./hello:dev"
        ])
        .ok(),
        digest
    );
    assert_eq!(
        env.nv2(&[
            "verify",
            "-f",
            "hello-world.nv2",
            "-c",
            "cert.pem",
            "file:manifest.json"
        ])
        .ok(),
        digest
    );
    assert_eq!(
        env.nv2(&["verify", "-f", "hello-world.nv2", "-c", "cert.pem", &digest])
            .ok(),
        digest
    );
}

#[test]
fn sign_without_output_writes_hex_named_file() {
    let env = setup();
    let digest = env
        .nv2(&[
            "sign",
            "-m",
            "x509",
            "-k",
            "key.pem",
            "oci-layout:./hello:dev",
        ])
        .ok();
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert!(env.path(&format!("{hex}.nv2")).exists());
}

#[test]
fn round_trips_every_algorithm_with_kid_and_x5c() {
    let env = setup();
    env.nv2(&[
        "keygen",
        "--cn",
        "registry.example.com",
        "--ec",
        "p256",
        "-k",
        "p256.pem",
        "-c",
        "p256.crt",
    ])
    .ok();
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
    let cases = [
        ("key.pem", "cert.pem", "RS256"),
        ("key.pem", "cert.pem", "RS384"),
        ("key.pem", "cert.pem", "RS512"),
        ("key.pem", "cert.pem", "PS256"),
        ("key.pem", "cert.pem", "PS384"),
        ("key.pem", "cert.pem", "PS512"),
        ("p256.pem", "p256.crt", "ES256"),
        ("p384.pem", "p384.crt", "ES384"),
    ];
    for (key, cert, alg) in cases {
        for with_chain in [false, true] {
            let mut args = vec!["sign", "-m", "x509", "-k", key, "--alg", alg, "-o", "s.nv2"];
            if with_chain {
                args.extend(["-c", cert]);
            }
            args.push("oci-layout:./hello:dev");
            env.nv2(&args).ok();
            let text = String::from_utf8(env.read("s.nv2")).unwrap();
            assert!(text.contains(&format!("\"alg\":\"{alg}\"")));
            assert_eq!(text.contains("\"x5c\":"), with_chain, "{text}");
            env.nv2(&[
                "verify",
                "-f",
                "s.nv2",
                "-c",
                cert,
                "oci-layout:./hello:dev",
            ])
            .ok();
            // A different pinned certificate does not verify it.
            let other = if key == "key.pem" {
                "p256.crt"
            } else {
                "cert.pem"
            };
            let out = env.nv2(&[
                "verify",
                "-f",
                "s.nv2",
                "-c",
                other,
                "oci-layout:./hello:dev",
            ]);
            assert_eq!(
                out.code, 1,
                "{alg} with_chain={with_chain} verified with the wrong certificate"
            );
        }
    }
}

#[test]
fn ec_keys_sign_with_their_own_curve_by_default() {
    let env = setup();
    env.nv2(&[
        "keygen",
        "--cn",
        "r.example.com",
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
        "s.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    assert!(
        String::from_utf8(env.read("s.nv2"))
            .unwrap()
            .contains("\"alg\":\"ES384\"")
    );
    // ES256 does not fit a P-384 key: refused at sign time.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "p384.pem",
        "--alg",
        "ES256",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "does not fit");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "--alg",
        "ES256",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "does not fit");
}

/// The libtrust key id, computed here independently from the SPKI DER.
fn libtrust_kid(spki_der: &[u8]) -> String {
    let hash = sha2::Sha256::digest(spki_der);
    let b32 = data_encoding::BASE32_NOPAD.encode(&hash[..30]);
    assert_eq!(b32.len(), 48);
    b32.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn kid_of_an_openssl_key_matches_the_libtrust_formula() {
    let env = setup();
    for (stem, genargs) in [
        ("rsa", vec!["genrsa", "-out", "rsa.key", "2048"]),
        (
            "ec",
            vec![
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ec.key",
            ],
        ),
    ] {
        env.openssl(&genargs);
        let key = format!("{stem}.key");
        let spki = env.openssl(&["pkey", "-in", &key, "-pubout", "-outform", "DER"]);
        let want = libtrust_kid(&spki);
        env.nv2(&[
            "sign",
            "-m",
            "x509",
            "-k",
            &key,
            "-o",
            "k.nv2",
            "oci-layout:./hello:dev",
        ])
        .ok();
        let text = String::from_utf8(env.read("k.nv2")).unwrap();
        assert!(
            text.contains(&format!("\"kid\":\"{want}\"")),
            "{stem}: want {want} in {text}"
        );
        let json = env.nv2(&["inspect", "--output", "json", "k.nv2"]).ok();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["signatures"][0]["kid"], want);
    }
    // The kid is also printed for a certificate's key by inspect when x5c is used.
    let spki = env.openssl(&["x509", "-in", "cert.pem", "-pubkey", "-noout"]);
    let spki_der = env.write("pub.pem", spki);
    let der = env.openssl(&[
        "pkey",
        "-pubin",
        "-in",
        spki_der.to_str().unwrap(),
        "-outform",
        "DER",
    ]);
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
        "-o",
        "x.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let json = env.nv2(&["inspect", "--output", "json", "x.nv2"]).ok();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["signatures"][0]["certificates"][0]["key_id"],
        libtrust_kid(&der)
    );
}

#[test]
fn openssl_made_pkcs1_and_sec1_keys_sign() {
    let env = setup();
    env.openssl(&["genrsa", "-traditional", "-out", "pkcs1.key", "2048"]);
    assert!(
        String::from_utf8(env.read("pkcs1.key"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    env.openssl(&[
        "ecparam",
        "-name",
        "secp384r1",
        "-genkey",
        "-noout",
        "-out",
        "sec1.key",
    ]);
    assert!(
        String::from_utf8(env.read("sec1.key"))
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    for (key, alg) in [("pkcs1.key", "RS256"), ("sec1.key", "ES384")] {
        let cert = format!("{key}.crt");
        env.openssl(&[
            "req",
            "-new",
            "-x509",
            "-key",
            key,
            "-out",
            &cert,
            "-days",
            "3",
            "-subj",
            "/CN=registry.example.com",
        ]);
        env.nv2(&[
            "sign",
            "-m",
            "x509",
            "-k",
            key,
            "-c",
            &cert,
            "-r",
            "registry.example.com/a:1",
            "-o",
            "s.nv2",
            "oci-layout:./hello:dev",
        ])
        .ok();
        assert!(String::from_utf8(env.read("s.nv2")).unwrap().contains(alg));
        env.nv2(&[
            "verify",
            "-f",
            "s.nv2",
            "-c",
            &cert,
            "oci-layout:./hello:dev",
        ])
        .ok();
    }
}

/// Builds a `.nv2` by hand around `signed` with a signature from `openssl dgst`.
fn openssl_signed_file(
    env: &Env,
    signed: &str,
    key: &str,
    cert: &str,
    alg: &str,
    raw_ecdsa: bool,
) -> String {
    env.write("signed.json", signed);
    let mut args = vec!["dgst", "-sha256", "-sign", key];
    let pss = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
    ];
    if alg == "PS256" {
        args.extend(pss);
    }
    args.push("signed.json");
    let mut sig = env.openssl(&args);
    if raw_ecdsa {
        sig = der_ecdsa_to_raw(&sig, 32);
    }
    let cert_pem = String::from_utf8(env.read(cert)).unwrap();
    let der_b64: String = cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    format!(
        r#"{{"signed":{signed},"signatures":[{{"typ":"x509","sig":"{}","alg":"{alg}","x5c":["{der_b64}"]}}]}}"#,
        B64.encode(sig)
    )
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` → JWS `r‖s`, each `n` bytes.
fn der_ecdsa_to_raw(der: &[u8], n: usize) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut i = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(n)..];
        out.extend(std::iter::repeat_n(0u8, n - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}

#[test]
fn signatures_made_by_openssl_dgst_verify() {
    let env = setup();
    let manifest = env.read("manifest.json");
    let signed = format!(
        r#"{{"digest":"sha256:{}","size":{},"iat":1595562742}}"#,
        sha256_hex(&manifest),
        manifest.len()
    );
    env.openssl_self_signed("rsa", "registry.example.com", 2048);
    env.openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ec.key",
    ]);
    env.openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "ec.key",
        "-out",
        "ec.crt",
        "-days",
        "3",
        "-subj",
        "/CN=registry.example.com",
    ]);
    for (key, cert, alg, raw) in [
        ("rsa.key", "rsa.crt", "RS256", false),
        ("rsa.key", "rsa.crt", "PS256", false),
        ("ec.key", "ec.crt", "ES256", true),
    ] {
        env.write(
            "o.nv2",
            openssl_signed_file(&env, &signed, key, cert, alg, raw),
        );
        env.nv2(&["verify", "-f", "o.nv2", "-c", cert, "file:manifest.json"])
            .ok();
    }
    // An ECDSA signature left in DER (not JWS r‖s) is refused with its length.
    env.write(
        "der.nv2",
        openssl_signed_file(&env, &signed, "ec.key", "ec.crt", "ES256", false),
    );
    env.nv2(&[
        "verify",
        "-f",
        "der.nv2",
        "-c",
        "ec.crt",
        "file:manifest.json",
    ])
    .fails(1, "makes 64");
}

#[test]
fn reads_the_2020_prototype_single_signature_form() {
    let env = setup();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "s.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let text = String::from_utf8(env.read("s.nv2")).unwrap();
    let proto = text
        .replace("\"signatures\":[", "\"signature\":")
        .replace("}]}", "}}");
    assert_ne!(proto, text);
    env.write("proto.nv2", proto);
    env.nv2(&[
        "verify",
        "-f",
        "proto.nv2",
        "-c",
        "cert.pem",
        "oci-layout:./hello:dev",
    ])
    .ok();
}

#[test]
fn chain_to_a_ca_verifies_only_with_the_root() {
    let env = setup();
    let ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
    env.write("ca.ext", ext);
    env.write(
        "leaf.ext",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=DNS:registry.example.com\n",
    );
    env.openssl(&[
        "req",
        "-new",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Test Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    env.openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "int.key",
        "-out",
        "int.csr",
        "-subj",
        "/CN=Test Intermediate",
    ]);
    env.openssl(&[
        "x509",
        "-req",
        "-in",
        "int.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-out",
        "int.pem",
        "-days",
        "30",
        "-extfile",
        "ca.ext",
    ]);
    env.openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=registry.example.com",
    ]);
    env.openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "int.pem",
        "-CAkey",
        "int.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "30",
        "-extfile",
        "leaf.ext",
    ]);
    let chain = [env.read("leaf.pem"), env.read("int.pem")].concat();
    env.write("chain.pem", chain);
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "leaf.key",
        "-c",
        "chain.pem",
        "-r",
        "registry.example.com/hello:v1",
        "-o",
        "c.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-f",
        "c.nv2",
        "--ca-cert",
        "root.pem",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&["verify", "-f", "c.nv2", "oci-layout:./hello:dev"])
        .fails(1, "no CA certificate is trusted");
    // Another root does not anchor it.
    env.openssl(&[
        "req",
        "-new",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other.key",
        "-out",
        "other.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Other Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ]);
    env.nv2(&[
        "verify",
        "-f",
        "c.nv2",
        "--ca-cert",
        "other.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(1, "not trusted");
    // A broken chain: the leaf without its intermediate.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "leaf.key",
        "-c",
        "leaf.pem",
        "-o",
        "broken.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-f",
        "broken.nv2",
        "--ca-cert",
        "root.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(1, "does not lead to a trusted CA");
    // An intermediate CA cannot sign as a leaf.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "int.key",
        "-c",
        "int.pem",
        "-o",
        "ca.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-f",
        "ca.nv2",
        "--ca-cert",
        "root.pem",
        "oci-layout:./hello:dev",
    ])
    .fails(1, "is a CA certificate");
}

#[test]
fn co_signatures_each_verify_alone() {
    let env = setup();
    env.nv2(&[
        "keygen",
        "--cn",
        "registry.example.com",
        "--ec",
        "p256",
        "-k",
        "b.pem",
        "-c",
        "b.crt",
    ])
    .ok();
    env.nv2(&[
        "keygen",
        "--cn",
        "registry.example.com",
        "-k",
        "c.pem",
        "-c",
        "c.crt",
    ])
    .ok();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "co.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let before = env.read("co.nv2");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "b.pem",
        "-c",
        "b.crt",
        "--append",
        "co.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let after = String::from_utf8(env.read("co.nv2")).unwrap();
    // The signed bytes are untouched.
    let signed_end = before.windows(2).position(|w| w == b"},").unwrap() + 1;
    assert!(after.as_bytes().starts_with(&before[..signed_end]));
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    env.nv2(&[
        "verify",
        "-f",
        "co.nv2",
        "-c",
        "cert.pem",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-f",
        "co.nv2",
        "-c",
        "b.crt",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let out = env.nv2(&[
        "verify",
        "-f",
        "co.nv2",
        "-c",
        "c.crt",
        "oci-layout:./hello:dev",
    ]);
    out.fails(1, "signature 1");
    assert!(out.stderr.contains("signature 2"), "{}", out.stderr);
    // Appending for another target is refused.
    env.umoci_image("hello", "other", "b");
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "b.pem",
        "--append",
        "co.nv2",
        "oci-layout:./hello:other",
    ])
    .fails(2, "but the target is");
}

#[test]
fn expiry_flag_sets_nbf_and_exp() {
    let env = setup();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-e",
        "8760h",
        "-o",
        "e.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let v: serde_json::Value = serde_json::from_slice(&env.read("e.nv2")).unwrap();
    let s = &v["signed"];
    assert_eq!(s["nbf"], s["iat"]);
    assert_eq!(
        s["exp"].as_i64().unwrap() - s["iat"].as_i64().unwrap(),
        8760 * 3600
    );
    env.nv2(&[
        "verify",
        "-f",
        "e.nv2",
        "-c",
        "cert.pem",
        "oci-layout:./hello:dev",
    ])
    .ok();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-e",
        "1y",
        "oci-layout:./hello:dev",
    ])
    .fails(2, "invalid duration");
}

#[test]
fn inspect_describes_the_file() {
    let env = setup();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
        "-r",
        "registry.example.com/hello:v1",
        "-e",
        "1h",
        "-o",
        "i.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    let text = env.nv2(&["inspect", "i.nv2"]).ok();
    for needle in [
        "Digest:",
        "registry.example.com/hello:v1",
        "Expires:",
        "RS256",
        "CN=registry.example.com",
        "RSA-2048",
        "SHA-256:",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&env.nv2(&["inspect", "--output", "json", "i.nv2"]).ok()).unwrap();
    assert_eq!(
        json["signatures"][0]["certificates"][0]["names"][0],
        "registry.example.com"
    );
    assert!(json["expires"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn keygen_protects_keys_and_files() {
    use std::os::unix::fs::PermissionsExt;
    let env = setup();
    let mode = std::fs::metadata(env.path("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = env.read("key.pem");
    env.nv2(&[
        "keygen",
        "--cn",
        "x.example.com",
        "-k",
        "key.pem",
        "-c",
        "new.pem",
    ])
    .fails(2, "exists");
    assert_eq!(env.read("key.pem"), before);
    assert!(!env.path("new.pem").exists());
    env.nv2(&[
        "keygen",
        "--cn",
        "x.example.com",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
        "--force",
    ])
    .ok();
    assert_ne!(env.read("key.pem"), before);
    // The certificate says what verifiers look for.
    let text =
        String::from_utf8(env.openssl(&["x509", "-in", "cert.pem", "-noout", "-text"])).unwrap();
    assert!(
        text.contains("Digital Signature")
            && text.contains("Code Signing")
            && text.contains("DNS:x.example.com"),
        "{text}"
    );
}

#[test]
fn version_help_and_completions() {
    let env = Env::new();
    assert!(env.nv2(&["--version"]).ok().starts_with("nv2 "));
    assert!(env.nv2(&["help"]).ok().contains("verify"));
    for shell in ["bash", "zsh", "fish"] {
        assert!(env.nv2(&["completions", shell]).ok().contains("nv2"));
    }
    let out = env.nv2(&["frobnicate"]);
    assert_eq!(out.code, 2);
}
