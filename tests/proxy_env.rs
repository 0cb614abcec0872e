//! The registry client honours the proxy environment operators set through
//! the chart's `extraEnv` (HTTP_PROXY / HTTPS_PROXY / NO_PROXY): a registry
//! that is unreachable directly is reached through the proxy, and a host
//! listed in NO_PROXY is not sent there.

mod common;

use common::standin::{Reply, StandIn};

fn list(env: &[(&str, String)], target: &str, insecure: bool) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"));
    cmd.arg("list");
    if insecure {
        cmd.arg("--insecure");
    }
    cmd.arg(target)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("NO_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("no_proxy");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn registry_requests_go_through_the_configured_proxy() {
    // The "proxy" answers 502 to whatever it is asked, and records it.
    let proxy = StandIn::http(|_| Reply::status(502));
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    // Nothing listens on the registry's port: only the proxy can answer.
    let dead = format!("127.0.0.1:{}", common::registry::free_port());
    let target = format!("docker://{dead}/app:v1");

    let (code, stderr) = list(&[("HTTP_PROXY", proxy_url.clone())], &target, true);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("502"),
        "not sent through the proxy: {stderr}"
    );
    assert_eq!(proxy.count(), 1, "{:?}", proxy.seen());
    assert!(
        proxy.seen()[0].path.ends_with("/v2/app/manifests/v1"),
        "{:?}",
        proxy.seen()
    );

    // NO_PROXY names the registry: sent directly (and refused), not proxied.
    let host = dead.split(':').next().unwrap().to_owned();
    let (code, stderr) = list(
        &[("HTTP_PROXY", proxy_url.clone()), ("NO_PROXY", host)],
        &target,
        true,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot reach the registry"), "{stderr}");
    assert_eq!(proxy.count(), 1, "NO_PROXY ignored: {:?}", proxy.seen());

    // HTTPS registries: a CONNECT tunnel through HTTPS_PROXY.
    let (code, stderr) = list(
        &[("HTTPS_PROXY", proxy_url)],
        "docker://registry.example.com/app:v1",
        false,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("tunnel"),
        "no CONNECT through the proxy: {stderr}"
    );
    assert_eq!(proxy.count(), 2, "{:?}", proxy.seen());
    assert_eq!(proxy.seen()[1].method, "CONNECT", "{:?}", proxy.seen());
}
