//! The rendered chart's webhook rules, fed to the real binary: every kind the
//! chart routes to nv2 must be handled (here: denied for an image that cannot
//! be verified), never passed through. `scripts/check-chart.sh` (run by
//! `make test` before the cargo tests) renders the chart and writes
//! target/chart-rules.json.

mod common;

use common::webhook::{Webhook, write_trust_dir};
use serde_json::{Value, json};

fn rules() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chart-rules.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `bash scripts/check-chart.sh` (make test does) to render the chart first",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// An object of `kind` whose pod spec runs `image` (in ephemeralContainers for that subresource).
fn object(kind: &str, sub_resource: &str, image: &str) -> Value {
    let list = if sub_resource == "ephemeralcontainers" {
        "ephemeralContainers"
    } else {
        "containers"
    };
    let spec = json!({ list: [{"name": "c", "image": image}] });
    let template = json!({"metadata": {}, "spec": spec});
    let body = match kind {
        "Pod" => json!({"spec": spec}),
        "CronJob" => {
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}})
        }
        _ => json!({"spec": {"template": template}}),
    };
    let mut obj = body;
    obj["kind"] = json!(kind);
    obj["metadata"] = json!({"name": "x", "namespace": "default"});
    obj
}

#[test]
fn every_kind_the_chart_routes_is_handled() {
    let rules = rules();
    let dead = format!("localhost:{}", common::registry::free_port());
    let env = common::Env::new();
    env.nv2(&["keygen", "--cn", "localhost", "-k", "k.pem", "-c", "c.pem"])
        .ok();
    let policy = json!({"version": "1.0", "trustPolicies": [{"name": "all", "registryScopes": ["*"],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:t"], "trustedIdentities": ["*"]}]});
    write_trust_dir(&env.path("trust"), &policy, "t", &[&env.path("c.pem")]);
    let wh = Webhook::start(
        &env.path("trust"),
        &["--insecure-registry", &dead, "--deadline", "2s"],
    );
    let image = format!("{dead}/app:v1");
    let mut seen = std::collections::BTreeSet::new();
    let webhooks = rules["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 2, "a validating and a mutating webhook");
    for webhook in webhooks {
        let path = webhook["path"].as_str().unwrap();
        for (i, k) in webhook["kinds"].as_array().unwrap().iter().enumerate() {
            let kind = k["kind"].as_str().unwrap();
            let sub = k["subResource"].as_str().unwrap_or_default();
            seen.insert(kind.to_owned());
            let mut request = json!({
                "uid": format!("{path}-{i}"),
                "kind": {"group": k["group"], "version": k["version"], "kind": kind},
                "resource": {"group": k["group"], "version": k["version"], "resource": k["resource"]},
                "name": "x", "namespace": "default", "operation": k["operation"],
                "userInfo": {"username": "test"}, "object": object(kind, sub, &image), "dryRun": false});
            if !sub.is_empty() {
                request["subResource"] = json!(sub);
            }
            let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
            let resp = wh.review(path, &review);
            assert_eq!(
                resp["allowed"], false,
                "{path} {kind}/{sub} {}: passed through: {resp}",
                k["operation"]
            );
            assert!(
                resp["status"]["message"].as_str().unwrap().contains(&image),
                "{resp}"
            );
        }
    }
    let want = [
        "CronJob",
        "DaemonSet",
        "Deployment",
        "Job",
        "Pod",
        "ReplicaSet",
        "ReplicationController",
        "StatefulSet",
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), want);
}

/// Every render's container args (and env) are accepted by the real binary:
/// a value the chart's schema allows but `nv2 webhook` refuses would crash
/// the pods at start. The TLS files do not exist, so a run that gets past
/// argument parsing stops there with its own error.
#[test]
fn the_binary_accepts_every_rendered_argument_list() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chart-interface");
    let mut renders: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run `bash scripts/check-chart.sh`", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    renders.sort();
    assert!(renders.len() >= 12, "{renders:?}");
    let scratch = tempfile::tempdir().unwrap();
    for path in renders {
        let interface: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let args: Vec<String> = interface["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a.as_str()
                    .unwrap()
                    .replace("$(POD_NAMESPACE)", "nv2-system")
                    .replace("/etc/nv2", &scratch.path().display().to_string())
            })
            .collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nv2"))
            .args(&args)
            .env("KUBECONFIG", scratch.path().join("none"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{}: started without TLS files",
            path.display()
        );
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        for refusal in ["invalid value", "unexpected argument", "Usage:"] {
            assert!(
                !stderr.contains(refusal),
                "{}: the binary refuses the chart's args {args:?}: {stderr}",
                path.display()
            );
        }
    }
}

/// Every nv2 metric the chart's alerts and dashboard read is one the
/// webhook exports (target/chart-metrics.json, from scripts/check-chart.sh).
#[test]
fn alerts_and_dashboard_read_only_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chart-metrics.json");
    let used: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; run `bash scripts/check-chart.sh`", path.display())
        }))
        .unwrap();
    assert!(used.len() >= 8, "{used:?}");
    let env = common::Env::new();
    env.nv2(&["keygen", "--cn", "localhost", "-k", "k.pem", "-c", "c.pem"])
        .ok();
    let policy = json!({"version": "1.0", "trustPolicies": [{"name": "all", "registryScopes": ["*"],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:t"], "trustedIdentities": ["*"]}]});
    write_trust_dir(&env.path("trust"), &policy, "t", &[&env.path("c.pem")]);
    let dead = format!("localhost:{}", common::registry::free_port());
    let wh = Webhook::start(
        &env.path("trust"),
        &["--insecure-registry", &dead, "--deadline", "2s"],
    );
    wh.wait_ready();
    // One review touching every labelled family: a tag (tag cache, registry
    // request) and a digest (verdict cache, verification), both unreachable.
    let digest = format!("sha256:{}", "a".repeat(64));
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "m1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
        "namespace": "default", "object": object("Pod", "", &format!("{dead}/app:v1"))}});
    let mut both = review.clone();
    both["request"]["object"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "d", "image": format!("{dead}/app@{digest}")}));
    assert_eq!(wh.review("/validate", &both)["allowed"], false);
    let exported: std::collections::BTreeSet<String> = wh
        .metrics()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    for name in used {
        let base = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        assert!(
            exported.contains(base),
            "{name} is read by the chart but not exported ({exported:?})"
        );
    }
}
