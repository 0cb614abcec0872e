//! Hostile registries (issue 17): token realms on other hosts, plain HTTP and
//! internal addresses; redirects to forbidden targets; oversized and endless
//! tokens; Basic-auth marks. Each stand-in is a small server on 127.0.0.1
//! that counts what it receives: "nothing sent where it must not go" is
//! asserted at the receiving end.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::standin::{Reply, StandIn, manifest};
use common::webhook::{TlsMaterial, tls_material};
use nv2::oci::Reference;
use nv2::oci::{AuthHost, AuthStore, Credentials, Registry, RegistryError, RegistryOptions};

const USER: &str = "bob";
const PASSWORD: &str = "s3cret-pw";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Options for a client of `registry_host` (plain HTTP unless `https_ca`).
fn options(registry_host: &str, https_ca: Option<&std::path::Path>) -> RegistryOptions {
    RegistryOptions {
        insecure_hosts: if https_ca.is_some() {
            Vec::new()
        } else {
            vec![registry_host.to_owned()]
        },
        ca_file: https_ca.map(|p| p.to_owned()),
        credentials: Credentials::explicit(USER.into(), PASSWORD.into()),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..RegistryOptions::default()
    }
}

fn reference(host: &str, repo: &str) -> Reference {
    Reference::parse(&format!("{host}/{repo}:v1")).unwrap()
}

fn get_manifest(options: RegistryOptions, r: &Reference) -> Result<(), RegistryError> {
    let registry = Registry::new(options).unwrap();
    runtime().block_on(registry.get_manifest(r)).map(|_| ())
}

/// A CA file for `tls`, kept with its directory.
fn ca_file(tls: &TlsMaterial) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &tls.ca_pem).unwrap();
    (dir, path)
}

/// A registry that asks for a token from `realm` and serves the manifest to
/// anyone presenting `Bearer <token>`.
fn bearer_registry(
    tls: Option<&TlsMaterial>,
    realm: impl Fn() -> String + Send + Sync + 'static,
    token: &'static str,
) -> StandIn {
    let (bytes, _) = manifest();
    let handler = move |s: &common::standin::Seen| {
        if s.authorization.as_deref() == Some(&format!("Bearer {token}")) {
            Reply::ok(bytes.clone())
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        } else {
            Reply::challenge(&format!(r#"Bearer realm="{}",service="hostile""#, realm()))
        }
    };
    match tls {
        Some(t) => StandIn::https(t, handler),
        None => StandIn::http(handler),
    }
}

fn token_service(token: &'static str) -> StandIn {
    StandIn::http(move |_| Reply::json(serde_json::json!({ "token": token })))
}

/// Where the registry's realm points: set after the realm's port is known.
fn late(value: &Arc<std::sync::Mutex<String>>) -> impl Fn() -> String + Send + Sync + 'static {
    let v = value.clone();
    move || v.lock().unwrap().clone()
}

#[test]
fn realm_on_another_internal_host_is_refused() {
    let realm_svc = token_service("internal-token");
    let realm = Arc::new(std::sync::Mutex::new(
        realm_svc.url(&realm_svc.ip_host(), "/token"),
    ));
    let reg = bearer_registry(None, late(&realm), "internal-token");
    let r = reference(&reg.host(), "app");
    let err = get_manifest(options(&reg.host(), None), &r)
        .unwrap_err()
        .to_string();
    assert!(err.contains("loopback address; refused"), "{err}");
    assert!(err.contains("--auth-host"), "{err}");
    assert!(!err.contains('\n'));
    assert_eq!(realm_svc.count(), 0, "nothing may reach an internal realm");
    // 0.0.0.0 reaches the local host on Linux: refused as well.
    *realm.lock().unwrap() = format!("http://0.0.0.0:{}/token", realm_svc.port);
    let err = get_manifest(options(&reg.host(), None), &r)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unspecified address; refused"), "{err}");
    assert_eq!(realm_svc.count(), 0);
}

#[test]
fn a_configured_auth_host_gets_the_credentials() {
    let realm_svc = token_service("granted");
    let realm = Arc::new(std::sync::Mutex::new(
        realm_svc.url(&realm_svc.ip_host(), "/token"),
    ));
    let reg = bearer_registry(None, late(&realm), "granted");
    let r = reference(&reg.host(), "app");
    let mut opts = options(&reg.host(), None);
    opts.auth_hosts =
        vec![AuthHost::parse(&format!("{}={}", reg.host(), realm_svc.ip_host())).unwrap()];
    get_manifest(opts, &r).unwrap();
    let seen = realm_svc.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(
        seen[0].path.contains("scope=repository%3Aapp%3Apull"),
        "{}",
        seen[0].path
    );
    // The token went to the registry, the password did not.
    assert!(
        reg.seen()
            .iter()
            .any(|s| s.authorization.as_deref() == Some("Bearer granted"))
    );
    assert!(reg.seen().iter().all(|s| {
        !s.authorization
            .as_deref()
            .unwrap_or("")
            .starts_with("Basic")
    }));
    // The auth host is configured for this registry only.
    let other = bearer_registry(None, late(&realm), "granted");
    let mut opts = options(&other.host(), None);
    opts.auth_hosts =
        vec![AuthHost::parse(&format!("{}={}", reg.host(), realm_svc.ip_host())).unwrap()];
    let err = get_manifest(opts, &reference(&other.host(), "app")).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(realm_svc.count(), 1);
}

#[test]
fn a_realm_on_the_registrys_own_host_is_fine() {
    let realm_svc = token_service("own");
    // Same host name as the registry, another port.
    let realm = Arc::new(std::sync::Mutex::new(
        realm_svc.url(&realm_svc.host(), "/token"),
    ));
    let reg = bearer_registry(None, late(&realm), "own");
    get_manifest(options(&reg.host(), None), &reference(&reg.host(), "app")).unwrap();
    assert_eq!(realm_svc.count(), 1);
    assert!(
        realm_svc.seen()[0].authorization.is_some(),
        "own host: credentials go"
    );
}

#[test]
fn plain_http_realm_of_an_https_registry_is_refused() {
    let tls = tls_material("hostile CA");
    let (_dir, ca) = ca_file(&tls);
    let realm_svc = token_service("t");
    // Same host name, plain HTTP: refused all the same.
    for host in [realm_svc.host(), realm_svc.ip_host()] {
        let realm = Arc::new(std::sync::Mutex::new(realm_svc.url(&host, "/token")));
        let reg = bearer_registry(Some(&tls), late(&realm), "t");
        let err = get_manifest(
            options(&reg.host(), Some(&ca)),
            &reference(&reg.host(), "app"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("plain HTTP for an HTTPS registry; refused"),
            "{err}"
        );
    }
    assert_eq!(realm_svc.count(), 0, "no credentials in clear text");
}

/// `nv2 verify -u … -p …` against a hostile HTTPS registry: the password
/// reaches no third host, whatever the realm says.
#[test]
fn cli_password_never_reaches_a_third_host() {
    let env = common::Env::new();
    let tls = tls_material("hostile CA");
    std::fs::write(env.path("ca.pem"), &tls.ca_pem).unwrap();
    std::fs::write(env.path("x.pem"), &tls.ca_pem).unwrap();
    let plain = token_service("t");
    let https_other = StandIn::https(&tls, |_| Reply::json(serde_json::json!({"token": "t"})));
    for realm_url in [
        plain.url(&plain.ip_host(), "/token"),
        plain.url(&plain.host(), "/token"),
        https_other.url(&https_other.ip_host(), "/token"),
    ] {
        let realm = Arc::new(std::sync::Mutex::new(realm_url.clone()));
        let reg = bearer_registry(Some(&tls), late(&realm), "t");
        let target = format!("docker://{}/app:v1", reg.host());
        let out = env.nv2(&[
            "verify",
            "-c",
            "x.pem",
            "--ca-file",
            &env.p("ca.pem"),
            "-u",
            USER,
            "-p",
            PASSWORD,
            &target,
        ]);
        out.fails(2, "refused");
        assert!(!out.stderr.contains(PASSWORD));
    }
    assert_eq!(plain.count() + https_other.count(), 0);
}

#[test]
fn redirects_to_plain_http_are_refused() {
    let tls = tls_material("hostile CA");
    let (_dir, ca) = ca_file(&tls);
    let target = StandIn::http(|_| Reply::ok("internal secrets"));
    let loc = target.url(&target.host(), "/latest/meta-data/");
    let reg = StandIn::https(&tls, move |_| Reply::redirect(&loc));
    let err = get_manifest(
        options(&reg.host(), Some(&ca)),
        &reference(&reg.host(), "app"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("redirect refused") && err.contains("plain-HTTP"),
        "{err}"
    );
    assert_eq!(target.count(), 0);
}

#[test]
fn redirects_to_another_internal_class_are_refused() {
    // The registry is loopback; 0.0.0.0 (the local host, another class) is
    // not its own kind of address.
    let target = StandIn::http(|_| Reply::ok("x"));
    let port = target.port;
    let reg = StandIn::http(move |_| Reply::redirect(&format!("https://0.0.0.0:{port}/x")));
    let err = get_manifest(options(&reg.host(), None), &reference(&reg.host(), "app"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("redirect refused") && err.contains("unspecified address"),
        "{err}"
    );
    assert_eq!(target.count(), 0);
}

#[test]
fn redirects_carry_no_credentials_across_hosts_and_say_little() {
    let tls = tls_material("cdn CA");
    let (_dir, ca) = ca_file(&tls);
    let (bytes, digest) = manifest();
    let body = bytes.clone();
    let cdn = StandIn::https(&tls, move |s| {
        if s.path.starts_with("/good") {
            Reply::ok(body.clone())
        } else if s.path.starts_with("/missing") {
            Reply::status(404)
        } else if s.path.starts_with("/error") {
            Reply::status(503).header("content-type", "application/json")
        } else {
            Reply::ok("the internal service's answer")
        }
    });
    let token = "reg-token";
    let reg_port = Arc::new(AtomicUsize::new(0));
    let rp = reg_port.clone();
    let cdn_host = cdn.ip_host();
    let reg = StandIn::http(move |s| {
        if s.path.starts_with("/token") {
            return Reply::json(serde_json::json!({"token": token, "expires_in": 300}));
        }
        if s.authorization.as_deref() != Some(&format!("Bearer {token}")) {
            return Reply::challenge(&format!(
                r#"Bearer realm="http://localhost:{}/token""#,
                rp.load(Ordering::SeqCst)
            ));
        }
        let to = ["good", "missing", "error"]
            .into_iter()
            .find(|t| s.path.contains(&format!("/manifests/{t}")))
            .unwrap_or("other");
        Reply::redirect(&format!("https://{cdn_host}/{to}"))
    });
    reg_port.store(reg.port as usize, Ordering::SeqCst);
    // A plain-HTTP registry whose redirects go to an HTTPS host it trusts.
    let mut opts = options(&reg.host(), None);
    opts.ca_file = Some(ca.clone());
    let registry = Registry::new(opts).unwrap();
    let rt = runtime();
    let good = Reference::parse(&format!("{}/app:good", reg.host())).unwrap();
    let m = rt.block_on(registry.get_manifest(&good)).unwrap();
    assert_eq!(m.digest.to_string(), digest);
    assert!(
        cdn.seen().iter().all(|s| s.authorization.is_none()),
        "no Authorization across hosts"
    );
    assert!(reg.seen().iter().any(|s| s.authorization.is_some()));
    for tag in ["missing", "error", "other"] {
        let r = Reference::parse(&format!("{}/app:{tag}", reg.host())).unwrap();
        let err = rt.block_on(registry.get_manifest(&r)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, RegistryError::Redirected { .. }), "{text}");
        assert!(text.contains("which gave no usable answer"), "{text}");
        // Ports are random: a "404" inside localhost:40481 is not a leak.
        let words: Vec<&str> = text
            .split_whitespace()
            .filter(|w| !w.contains("localhost:") && !w.contains("127.0.0.1:"))
            .collect();
        let said = words.join(" ");
        for leak in ["404", "503", "sha256:", "internal service"] {
            assert!(!said.contains(leak), "{leak} in {text}");
        }
    }
    // By digest, with content that is not it: the digest of what the target
    // answered is not told.
    let wrong = Reference::parse(&format!("{}/app@sha256:{}", reg.host(), "0".repeat(64))).unwrap();
    let text = rt
        .block_on(registry.get_manifest(&wrong))
        .unwrap_err()
        .to_string();
    let internal = nv2::oci::Digest::of(b"the internal service's answer").to_string();
    assert!(text.contains("which gave no usable answer"), "{text}");
    assert!(!text.contains(&internal[7..19]), "{text}");
}

#[test]
fn redirect_loops_end() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let reg = StandIn::http(move |s| {
        h.fetch_add(1, Ordering::SeqCst);
        Reply::redirect(&format!("{}x", s.path))
    });
    let err = get_manifest(options(&reg.host(), None), &reference(&reg.host(), "app"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 5 times"), "{err}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        6,
        "the first request and 5 redirects"
    );
}

/// Only manifest and blob GETs follow redirects: not the referrers API, not
/// the token service.
#[test]
fn other_requests_do_not_follow_redirects() {
    let target = StandIn::http(|_| Reply::ok("{}"));
    let loc = target.url(&target.host(), "/elsewhere");
    let l = loc.clone();
    let reg = StandIn::http(move |_| Reply::redirect(&l));
    let registry = Registry::new(options(&reg.host(), None)).unwrap();
    let r = reference(&reg.host(), "app");
    let subject = nv2::oci::Digest::of(b"x");
    let err = runtime()
        .block_on(registry.referrers(&r, &subject, "application/vnd.cncf.notary.signature"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("answered 307"), "{err}");
    // A realm that redirects.
    let realm = StandIn::http(move |_| Reply::redirect(&loc));
    let realm_url = Arc::new(std::sync::Mutex::new(realm.url(&realm.host(), "/token")));
    let reg2 = bearer_registry(None, late(&realm_url), "t");
    let err = get_manifest(options(&reg2.host(), None), &reference(&reg2.host(), "app"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("token service answered 307"), "{err}");
    assert_eq!(target.count(), 0);
}

#[test]
fn oversized_tokens_are_refused() {
    for (size, needle) in [
        (60 << 10, "the token is larger than 8192 bytes; refused"),
        (70 << 10, "larger than the 65536-byte limit"),
    ] {
        let big = "a".repeat(size);
        let realm_svc = StandIn::http(move |_| Reply::json(serde_json::json!({ "token": big })));
        let realm = Arc::new(std::sync::Mutex::new(
            realm_svc.url(&realm_svc.host(), "/token"),
        ));
        let reg = bearer_registry(None, late(&realm), "never");
        let err = get_manifest(options(&reg.host(), None), &reference(&reg.host(), "app"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("aaaa"));
    }
}

/// Thousands of repositories, each with its own 8 KiB token: the store
/// stays within its bytes and entries.
#[test]
fn token_store_stays_bounded() {
    let store = Arc::new(AuthStore::new(1 << 20));
    let realm_svc = StandIn::http(|s| {
        // A distinct, maximal token per scope.
        let seed = s.path.len() + s.path.bytes().map(usize::from).sum::<usize>();
        let token = format!("{seed:x}").repeat(1 << 13)[..8 << 10].to_owned();
        Reply::json(serde_json::json!({ "token": token }))
    });
    let realm = Arc::new(std::sync::Mutex::new(
        realm_svc.url(&realm_svc.host(), "/token"),
    ));
    // The registry accepts any token.
    let r = realm.clone();
    let (bytes, _) = manifest();
    let reg = StandIn::http(move |s| match &s.authorization {
        Some(a) if a.starts_with("Bearer ") => Reply::ok(bytes.clone()),
        _ => Reply::challenge(&format!(r#"Bearer realm="{}""#, r.lock().unwrap())),
    });
    let mut opts = options(&reg.host(), None);
    opts.auth_store = store.clone();
    let registry = Registry::new(opts).unwrap();
    let rt = runtime();
    let n = 2_000;
    rt.block_on(async {
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let futs = chunk.iter().map(|i| {
                let r = reference(&reg.host(), &format!("repo{i}"));
                let registry = &registry;
                async move { registry.get_manifest(&r).await.map(|_| ()) }
            });
            for res in futures_util::future::join_all(futs).await {
                res.unwrap();
            }
        }
    });
    assert_eq!(realm_svc.count(), n);
    assert!(
        store.bytes() <= store.capacity(),
        "{} > {}",
        store.bytes(),
        store.capacity()
    );
    assert!(store.capacity() <= 1 << 20);
    assert!(store.len() <= 128, "{}", store.len());
    assert!(
        store.len() >= 16,
        "the store still holds tokens: {}",
        store.len()
    );
}

#[test]
fn tokens_expire_as_the_token_service_says() {
    let realm_svc =
        StandIn::http(|_| Reply::json(serde_json::json!({"token": "short", "expires_in": 1})));
    let realm = Arc::new(std::sync::Mutex::new(
        realm_svc.url(&realm_svc.host(), "/token"),
    ));
    let reg = bearer_registry(None, late(&realm), "short");
    let registry = Registry::new(options(&reg.host(), None)).unwrap();
    let r = reference(&reg.host(), "app");
    let rt = runtime();
    rt.block_on(registry.get_manifest(&r)).unwrap();
    rt.block_on(registry.get_manifest(&r)).unwrap();
    assert_eq!(realm_svc.count(), 1, "reused while valid");
    std::thread::sleep(Duration::from_millis(1200));
    let before = reg.count();
    rt.block_on(registry.get_manifest(&r)).unwrap();
    assert_eq!(realm_svc.count(), 2, "fetched again once expired");
    // Expired tokens are not presented: one request, with the new token.
    assert_eq!(
        reg.count() - before,
        2,
        "401 then 200, never a stale token accepted"
    );
    // Without expires_in: 60 s (the distribution spec's default).
    let realm2 = token_service("dflt");
    let realm_url = Arc::new(std::sync::Mutex::new(realm2.url(&realm2.host(), "/token")));
    let reg2 = bearer_registry(None, late(&realm_url), "dflt");
    let registry = Registry::new(options(&reg2.host(), None)).unwrap();
    let r = reference(&reg2.host(), "app");
    rt.block_on(registry.get_manifest(&r)).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    rt.block_on(registry.get_manifest(&r)).unwrap();
    assert_eq!(realm2.count(), 1);
}

/// A host that asks for Basic is remembered once, not once per 401.
#[test]
fn basic_hosts_are_deduplicated() {
    let store = Arc::new(AuthStore::default());
    let (bytes, _) = manifest();
    let reg = StandIn::http(move |s| match &s.authorization {
        Some(a) if a.starts_with("Basic ") => Reply::ok(bytes.clone()),
        _ => Reply::challenge(r#"Basic realm="hostile""#),
    });
    let mut opts = options(&reg.host(), None);
    opts.auth_store = store.clone();
    let registry = Registry::new(opts).unwrap();
    let rt = runtime();
    let started = Instant::now();
    for i in 0..200 {
        rt.block_on(registry.get_manifest(&reference(&reg.host(), &format!("r{i}"))))
            .unwrap();
    }
    assert_eq!(store.len(), 1);
    assert_eq!(reg.count(), 201, "one 401, then Basic sent up front");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// The same mistake in pushes: an upload Location on another host would
/// receive the credentials and the content. Refused.
#[test]
fn uploads_stay_on_the_registrys_origin() {
    let elsewhere = StandIn::http(|_| Reply::status(201));
    let loc = elsewhere.url(&elsewhere.ip_host(), "/upload");
    let reg = StandIn::http(move |s| match (s.method.as_str(), &s.authorization) {
        (_, None) => Reply::challenge(r#"Basic realm="x""#),
        ("HEAD", _) => Reply::status(404),
        ("POST", _) => Reply::status(202).header("location", &loc),
        _ => Reply::status(201),
    });
    let registry = Registry::new(options(&reg.host(), None)).unwrap();
    let r = reference(&reg.host(), "app");
    let err = runtime()
        .block_on(registry.push_blob(&r, b"content"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not on the registry's own origin; refused"),
        "{err}"
    );
    assert_eq!(elsewhere.count(), 0);
}
