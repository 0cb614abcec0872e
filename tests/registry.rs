//! Scenario 2 of the seed on a real registry (Debian's docker-registry,
//! distribution 2.8), images copied in with skopeo, and a hostile proxy.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::proxy::{Fault, Proxy};
use common::registry::{Auth, TestRegistry};

/// A layout with two distinct images (dev, other) and a keygen key for localhost.
fn setup() -> Env {
    let env = Env::new();
    env.umoci_image("hello", "dev", "a");
    env.umoci_image("hello", "other", "b");
    env.nv2(&[
        "keygen",
        "--cn",
        "localhost",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
    ])
    .ok();
    env
}

fn digest_of_layout(env: &Env, tag: &str) -> String {
    let m = env.nv2(&["manifest", &format!("oci-layout:./hello:{tag}")]);
    nv2::oci::Digest::of(&m.raw_stdout).to_string()
}

/// Signs hello:dev, copies it to `repo:v1.0`, pushes and links the signature.
fn sign_push_link(env: &Env, reg: &TestRegistry, repo: &str, extra: &[&str]) -> String {
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "hello-world.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    reg.skopeo_copy(&env.layout("dev"), &format!("{repo}:v1.0"), &[]);
    let mut push = vec!["push", "hello-world.nv2"];
    push.extend(extra);
    let repo_url = reg.url(repo);
    push.push(&repo_url);
    let sig = env.nv2(&push).ok();
    let sig_ref = format!("{}@{sig}", reg.url(repo));
    let target = format!("{}:v1.0", reg.url(repo));
    let mut link = vec!["link"];
    link.extend(extra);
    link.extend([sig_ref.as_str(), target.as_str()]);
    env.nv2(&link).ok()
}

#[test]
fn seed_scenario_2_sign_rename_push_link_verify() {
    let env = setup();
    let reg = TestRegistry::start(Auth::None);
    let digest = digest_of_layout(&env, "dev");
    let target = format!("{}:v1.0", reg.url("hello-world"));
    // Sign, with a reference the certificate covers.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-c",
        "cert.pem",
        "-r",
        &format!("{}/hello-world:v1.0", reg.host),
        "-o",
        "hello-world.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    // Rename + push with a third-party client.
    reg.skopeo_copy(&env.layout("dev"), "hello-world:v1.0", &[]);
    // Push the signature (unlinked), then link it: two steps.
    let sig = env
        .nv2(&[
            "push",
            "hello-world.nv2",
            "--insecure",
            &reg.url("hello-world"),
        ])
        .ok();
    assert!(sig.starts_with("sha256:"));
    // Unlinked: not yet a referrer.
    env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
        .fails(1, "no signatures are linked");
    let sig_ref = format!("{}@{sig}", reg.url("hello-world"));
    let linked = env.nv2(&["link", "--insecure", &sig_ref, &target]).ok();
    // The seed's command.
    assert_eq!(
        env.nv2(&[
            "verify",
            "-f",
            "hello-world.nv2",
            "-c",
            "cert.pem",
            "--insecure",
            &target
        ])
        .ok(),
        digest
    );
    // Discovery of linked signatures.
    assert_eq!(
        env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
            .ok(),
        digest
    );
    assert_eq!(
        env.nv2(&[
            "verify",
            "-c",
            "cert.pem",
            "--insecure",
            &format!("{}@{digest}", reg.url("hello-world"))
        ])
        .ok(),
        digest
    );
    let list = env.nv2(&["list", "--insecure", &target]).ok();
    assert!(
        list.contains(&linked) && list.contains("CN=localhost"),
        "{list}"
    );
    // Linking twice adds one entry to the referrers index.
    assert_eq!(
        env.nv2(&["link", "--insecure", &sig_ref, &target]).ok(),
        linked
    );
    let json: serde_json::Value = serde_json::from_str(
        &env.nv2(&["list", "--insecure", "--output", "json", &target])
            .ok(),
    )
    .unwrap();
    assert_eq!(json["signatures"].as_array().unwrap().len(), 1, "{json}");
    // The remote manifest is the local one, byte for byte.
    let remote = env.nv2(&["manifest", "--insecure", &target]);
    assert_eq!(
        remote.raw_stdout,
        env.nv2(&["manifest", "oci-layout:./hello:dev"]).raw_stdout
    );
    // Sign straight from the registry too.
    assert_eq!(
        env.nv2(&[
            "sign",
            "-m",
            "x509",
            "-k",
            "key.pem",
            "-o",
            "r.nv2",
            "--insecure",
            &target
        ])
        .ok(),
        digest
    );
    // A certificate that is not trusted fails, with the reason.
    env.nv2(&[
        "keygen",
        "--cn",
        "localhost",
        "-k",
        "k2.pem",
        "-c",
        "c2.pem",
    ])
    .ok();
    env.nv2(&["verify", "-c", "c2.pem", "--insecure", &target])
        .fails(1, "not pinned and no CA certificate is trusted");
}

#[test]
fn push_with_link_does_both_steps() {
    let env = setup();
    let reg = TestRegistry::start(Auth::None);
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
    reg.skopeo_copy(&env.layout("dev"), "app:v1", &[]);
    let target = format!("{}:v1", reg.url("app"));
    env.nv2(&[
        "push",
        "s.nv2",
        "--insecure",
        "--link",
        &target,
        &reg.url("app"),
    ])
    .ok();
    env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
        .ok();
}

#[test]
fn unsigned_images_and_wrong_targets_fail() {
    let env = setup();
    let reg = TestRegistry::start(Auth::None);
    let a = digest_of_layout(&env, "dev");
    let b = digest_of_layout(&env, "other");
    // Unsigned.
    reg.skopeo_copy(&env.layout("other"), "unsigned:v1", &[]);
    env.nv2(&[
        "verify",
        "-c",
        "cert.pem",
        "--insecure",
        &format!("{}:v1", reg.url("unsigned")),
    ])
    .fails(1, "no signatures are linked to");
    // A signature of A, linked to B (forced), does not verify B.
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "a.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    reg.skopeo_copy(&env.layout("other"), "b:v1", &[]);
    let sig = env
        .nv2(&["push", "a.nv2", "--insecure", &reg.url("b")])
        .ok();
    let sig_ref = format!("{}@{sig}", reg.url("b"));
    let target_b = format!("{}:v1", reg.url("b"));
    env.nv2(&["link", "--insecure", &sig_ref, &target_b])
        .fails(2, "refusing to link");
    env.nv2(&["link", "--insecure", "--force", &sig_ref, &target_b])
        .ok();
    env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target_b])
        .fails(
            1,
            &format!("the signature is for {a}, but the target is {b}"),
        );
    env.nv2(&[
        "verify",
        "-f",
        "a.nv2",
        "-c",
        "cert.pem",
        "--insecure",
        &target_b,
    ])
    .fails(1, &a);
}

#[test]
fn a_moved_tag_fails_naming_both_digests() {
    let env = setup();
    let reg = TestRegistry::start(Auth::None);
    sign_push_link(&env, &reg, "moving", &["--insecure"]);
    let target = format!("{}:v1.0", reg.url("moving"));
    env.nv2(&[
        "verify",
        "-f",
        "hello-world.nv2",
        "-c",
        "cert.pem",
        "--insecure",
        &target,
    ])
    .ok();
    // Someone pushes another image under the same tag.
    reg.skopeo_copy(&env.layout("other"), "moving:v1.0", &[]);
    let (a, b) = (
        digest_of_layout(&env, "dev"),
        digest_of_layout(&env, "other"),
    );
    let out = env.nv2(&[
        "verify",
        "-f",
        "hello-world.nv2",
        "-c",
        "cert.pem",
        "--insecure",
        &target,
    ]);
    out.fails(1, &a);
    assert!(out.stderr.contains(&b), "{}", out.stderr);
    env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
        .fails(1, "no signatures are linked");
}

#[test]
fn oci_index_images_are_signed_as_a_whole() {
    let env = setup();
    let reg = TestRegistry::start(Auth::None);
    // An OCI index over the two images, tagged "multi" in the layout.
    let layout = env.path("hello");
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let children: Vec<serde_json::Value> = index_json["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                "platform": {"architecture": if i == 0 {"amd64"} else {"arm64"}, "os": "linux"}})
        })
        .collect();
    let multi = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children})).unwrap();
    let digest = nv2::oci::Digest::of(&multi);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), &multi).unwrap();
    let mut top = index_json.clone();
    top["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest.to_string(), "size": multi.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}));
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "multi.nv2",
        "oci-layout:./hello:multi",
    ])
    .ok();
    reg.skopeo_copy(&env.layout("multi"), "multi:v1", &["--all"]);
    let target = format!("{}:v1", reg.url("multi"));
    assert_eq!(
        env.nv2(&[
            "verify",
            "-f",
            "multi.nv2",
            "-c",
            "cert.pem",
            "--insecure",
            &target
        ])
        .ok(),
        digest.to_string()
    );
    let sig = env
        .nv2(&[
            "push",
            "multi.nv2",
            "--insecure",
            "--link",
            &target,
            &reg.url("multi"),
        ])
        .ok();
    assert!(sig.starts_with("sha256:"));
    assert_eq!(
        env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
            .ok(),
        digest.to_string()
    );
}

#[test]
fn htpasswd_registry_with_flags_env_and_docker_config() {
    let env = setup();
    let reg = TestRegistry::start(Auth::Htpasswd {
        user: "alice".into(),
        password: "s3cret-pw".into(),
    });
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
    reg.skopeo_copy(
        &env.layout("dev"),
        "private:v1",
        &["--dest-creds", "alice:s3cret-pw"],
    );
    let target = format!("{}:v1", reg.url("private"));
    // Anonymous: refused, with a clear reason.
    env.nv2(&[
        "verify",
        "-f",
        "s.nv2",
        "-c",
        "cert.pem",
        "--insecure",
        &target,
    ])
    .fails(2, "requires credentials");
    env.nv2(&[
        "verify",
        "-f",
        "s.nv2",
        "-c",
        "cert.pem",
        "--insecure",
        "-u",
        "alice",
        "-p",
        "wrong",
        &target,
    ])
    .fails(2, "authentication failed");
    env.nv2(&[
        "push",
        "s.nv2",
        "--insecure",
        "-u",
        "alice",
        "-p",
        "s3cret-pw",
        "--link",
        &target,
        &reg.url("private"),
    ])
    .ok();
    env.nv2(&[
        "verify",
        "-c",
        "cert.pem",
        "--insecure",
        "-u",
        "alice",
        "-p",
        "s3cret-pw",
        &target,
    ])
    .ok();
    // Environment variables.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"));
    let out = cmd
        .args(["verify", "-c", "cert.pem", "--insecure", &target])
        .current_dir(env.dir.path())
        .env("NV2_USERNAME", "alice")
        .env("NV2_PASSWORD", "s3cret-pw")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Docker's config.json.
    let cfg_dir = env.path("docker");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "alice:s3cret-pw",
    );
    std::fs::write(
        cfg_dir.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"))
        .args(["verify", "-c", "cert.pem", "--insecure", &target])
        .current_dir(env.dir.path())
        .env("DOCKER_CONFIG", &cfg_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The password never appears in output.
    let out = env.nv2(&[
        "verify",
        "-c",
        "c-missing.pem",
        "--insecure",
        "-u",
        "alice",
        "-p",
        "s3cret-pw",
        &target,
    ]);
    assert!(!out.stderr.contains("s3cret-pw"));
}

#[test]
fn tls_registry_needs_its_ca() {
    let env = setup();
    let reg = TestRegistry::start(Auth::Tls);
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
    reg.skopeo_copy(&env.layout("dev"), "secure:v1", &[]);
    let target = format!("{}:v1", reg.url("secure"));
    let ca = reg.ca.clone().unwrap();
    let ca = ca.to_str().unwrap();
    env.nv2(&["verify", "-f", "s.nv2", "-c", "cert.pem", &target])
        .fails(2, "cannot reach the registry");
    env.nv2(&[
        "push",
        "s.nv2",
        "--ca-file",
        ca,
        "--link",
        &target,
        &reg.url("secure"),
    ])
    .ok();
    env.nv2(&["verify", "-c", "cert.pem", "--ca-file", ca, &target])
        .ok();
    // Plain HTTP to a TLS registry fails cleanly.
    env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
        .fails(2, "manifest");
}

#[test]
fn token_auth_registry() {
    let env = setup();
    let reg = TestRegistry::start(Auth::Token {
        user: "bob".into(),
        password: "t0ken-pw".into(),
    });
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
    reg.skopeo_copy(
        &env.layout("dev"),
        "tok:v1",
        &["--dest-creds", "bob:t0ken-pw"],
    );
    let target = format!("{}:v1", reg.url("tok"));
    let auth_host = format!("{}={}", reg.host, reg.token_host().unwrap());
    // Without --auth-host the token issuer (another host, loopback) is refused.
    env.nv2(&[
        "verify",
        "-c",
        "cert.pem",
        "--insecure",
        "-u",
        "bob",
        "-p",
        "t0ken-pw",
        &target,
    ])
    .fails(2, "is a loopback address; refused");
    let creds = ["-u", "bob", "-p", "t0ken-pw", "--auth-host", &auth_host];
    let mut push = vec!["push", "s.nv2", "--insecure"];
    push.extend(creds);
    push.extend(["--link", &target]);
    let repo = reg.url("tok");
    push.push(&repo);
    env.nv2(&push).ok();
    let mut verify = vec!["verify", "-c", "cert.pem", "--insecure"];
    verify.extend(creds);
    verify.push(&target);
    env.nv2(&verify).ok();
    env.nv2(&[
        "verify",
        "-c",
        "cert.pem",
        "--insecure",
        "--auth-host",
        &auth_host,
        &target,
    ])
    .fails(2, "token service answered 401");
}

/// A registry behind the hostile proxy, with a signed and linked image.
fn hostile_setup() -> (Env, TestRegistry, Proxy, String) {
    let env = setup();
    let reg = TestRegistry::start(Auth::None);
    sign_push_link(&env, &reg, "hostile", &["--insecure"]);
    let proxy = Proxy::start(reg.port);
    let target = format!("docker://{}/hostile:v1.0", proxy.host());
    (env, reg, proxy, target)
}

fn timed_verify(env: &Env, target: &str) -> (common::Run, Duration) {
    let start = Instant::now();
    let out = env.nv2(&[
        "verify",
        "-c",
        "cert.pem",
        "--insecure",
        "--timeout",
        "3s",
        target,
    ]);
    (out, start.elapsed())
}

#[test]
fn cold_verification_takes_at_most_four_round_trips() {
    let (env, _reg, proxy, target) = hostile_setup();
    proxy.reset();
    env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
        .ok();
    let log = proxy.log();
    assert!(
        proxy.count() <= 4,
        "{} round trips: {log:#?}",
        proxy.count()
    );
    assert!(log.iter().any(|l| l.contains("/referrers/")), "{log:#?}");
    proxy.reset();
    env.nv2(&[
        "verify",
        "-f",
        "hello-world.nv2",
        "-c",
        "cert.pem",
        "--insecure",
        &target,
    ])
    .ok();
    assert_eq!(proxy.count(), 1, "{:#?}", proxy.log());
}

#[test]
fn hostile_registry_answers_end_in_bounded_time_with_clear_errors() {
    let (env, _reg, proxy, target) = hostile_setup();
    let bound = Duration::from_secs(10);
    let cases: Vec<(&str, Fault, &str)> = vec![
        (
            "/manifests/v1.0",
            Fault::Delay(Duration::from_secs(30)),
            "timed out",
        ),
        (
            "/manifests/v1.0",
            Fault::Status(500, None),
            "registry answered 500",
        ),
        (
            "/manifests/v1.0",
            Fault::Status(429, Some("120")),
            "retry after 120",
        ),
        (
            "/manifests/v1.0",
            Fault::Truncate,
            "connection closed before message completed",
        ),
        (
            "/manifests/v1.0",
            Fault::Corrupt,
            "does not match its digest",
        ),
        (
            "/manifests/v1.0",
            Fault::Huge(10 << 20),
            "larger than the 4194304-byte limit",
        ),
        (
            "/manifests/v1.0",
            Fault::Endless,
            "larger than the 4194304-byte limit",
        ),
        // Discovery failures are errors, never "no signatures".
        (
            "/referrers/",
            Fault::Status(500, None),
            "registry answered 500",
        ),
        ("/referrers/", Fault::Status(401, None), "401"),
        (
            "/referrers/",
            Fault::Status(403, None),
            "registry answered 403",
        ),
        (
            "/referrers/",
            Fault::Status(429, Some("5")),
            "registry answered 429",
        ),
        (
            "/manifests/sha256-",
            Fault::Status(503, None),
            "registry answered 503",
        ),
        ("/manifests/sha256-", Fault::Endless, "larger than"),
        (
            "/manifests/sha256-",
            Fault::Delay(Duration::from_secs(30)),
            "timed out",
        ),
    ];
    for (pattern, fault, needle) in cases {
        proxy.set_fault(pattern, fault.clone());
        let (out, took) = timed_verify(&env, &target);
        out.fails(2, needle);
        assert!(took < bound, "{fault:?} on {pattern} took {took:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    proxy.clear();
    timed_verify(&env, &target).0.ok();
}

#[test]
fn a_registry_without_the_referrers_api_answering_400_or_405_falls_back() {
    let (env, _reg, proxy, target) = hostile_setup();
    for code in [400, 405] {
        proxy.set_fault("/referrers/", Fault::Status(code, None));
        env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target])
            .ok();
    }
}

#[test]
fn corrupted_signature_manifests_and_blobs_are_refused() {
    let (env, _reg, proxy, target) = hostile_setup();
    // The referrers index embeds the signature manifest; corrupting the
    // index body breaks the JSON or the embedded bytes: never a pass.
    proxy.set_fault("/manifests/sha256-", Fault::Corrupt);
    let out = env.nv2(&["verify", "-c", "cert.pem", "--insecure", &target]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(!out.stderr.contains("panicked"));
    // A signature manifest fetched by digest that does not match it.
    proxy.clear();
    let sig_list: serde_json::Value = serde_json::from_str(
        &env.nv2(&["list", "--insecure", "--output", "json", &target])
            .ok(),
    )
    .unwrap();
    let sig_digest = sig_list["signatures"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    proxy.set_fault(&format!("/manifests/{sig_digest}"), Fault::Corrupt);
    let sig_ref = format!("docker://{}/hostile@{sig_digest}", proxy.host());
    env.nv2(&["link", "--insecure", &sig_ref, &target])
        .fails(2, "does not match its digest");
}

#[test]
fn docker_credential_helpers_answer_for_the_users_config() {
    use std::os::unix::fs::PermissionsExt;
    let env = setup();
    let reg = TestRegistry::start(Auth::Htpasswd {
        user: "carol".into(),
        password: "helper-pw".into(),
    });
    let target = reg.publish_signed(&env, "helped", "v1", Some(("carol", "helper-pw")));
    // A credential helper on PATH, as `docker login` with a store sets up.
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-nv2test");
    std::fs::write(
        &helper,
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"helper-pw\"}' \"$host\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for config in [
        r#"{"credsStore":"nv2test"}"#.to_owned(),
        format!(r#"{{"credHelpers":{{"{}":"nv2test"}}}}"#, reg.host),
    ] {
        let cfg_dir = env.path("docker");
        std::fs::create_dir_all(&cfg_dir).unwrap();
        std::fs::write(cfg_dir.join("config.json"), config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"))
            .args(["verify", "-c", "cert.pem", "--insecure", &target])
            .current_dir(env.dir.path())
            .env("DOCKER_CONFIG", &cfg_dir)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
