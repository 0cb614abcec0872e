//! The real `nv2 webhook` binary on 127.0.0.1 over real HTTPS (a CA and a
//! serving certificate made with rcgen), and a client that trusts only that CA.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA and a serving certificate for localhost / 127.0.0.1 signed by it.
pub struct TlsMaterial {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn tls_material(ca_name: &str) -> TlsMaterial {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "nv2-webhook");
    let cert = params.signed_by(&key, &issuer).unwrap();
    TlsMaterial {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A running webhook process, killed on drop.
pub struct Webhook {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub tls: TlsMaterial,
    pub log: PathBuf,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Webhook {
    /// Starts `nv2 webhook` with the trust directory `trust_dir` and extra flags.
    pub fn start(trust_dir: &Path, extra: &[&str]) -> Self {
        let dir = trust_dir.display().to_string();
        let mut args = vec!["--trust-dir", dir.as_str()];
        args.extend(extra);
        Self::start_with(&args, &[])
    }

    /// Starts `nv2 webhook` with these flags and environment variables.
    pub fn start_with(extra: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tls = tls_material("nv2 test CA");
        std::fs::write(dir.path().join("tls.crt"), &tls.cert_pem).unwrap();
        std::fs::write(dir.path().join("tls.key"), &tls.key_pem).unwrap();
        let port = super::registry::free_port();
        let log = dir.path().join("webhook.log");
        let child = Command::new(env!("CARGO_BIN_EXE_nv2"))
            .arg("webhook")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert-file")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key-file")
            .arg(dir.path().join("tls.key"))
            .args(["--reload-interval", "1s", "--log-format", "json"])
            .args(extra)
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("nv2 webhook");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let client = client_trusting(&tls.ca_pem);
        let wh = Webhook {
            child,
            port,
            dir,
            tls,
            log,
            runtime,
            client,
        };
        wh.wait_healthy();
        wh
    }

    /// Waits until GET /readyz answers 200.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.get("/readyz").0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("webhook did not become ready: {}", self.logs());
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.get("/healthz").0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "webhook did not become healthy: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// GET over HTTPS: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let url = self.url(path);
        self.runtime.block_on(async {
            match self.client.get(&url).send().await {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(_) => (0, String::new()),
            }
        })
    }

    /// POST raw bytes: (status, body).
    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, String) {
        let url = self.url(path);
        self.runtime.block_on(async {
            let r = self
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("POST");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    }

    /// POST an AdmissionReview, expect 200 and return the response object.
    #[track_caller]
    pub fn review(&self, path: &str, review: &serde_json::Value) -> serde_json::Value {
        let (status, body) = self.post_raw(path, serde_json::to_vec(review).unwrap());
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(
            v["response"]["uid"], review["request"]["uid"],
            "uid must be echoed"
        );
        v["response"].clone()
    }

    /// Many reviews at once; returns every response.
    pub fn concurrent_reviews(
        &self,
        path: &str,
        reviews: Vec<serde_json::Value>,
    ) -> Vec<serde_json::Value> {
        let url = self.url(path);
        self.runtime.block_on(async {
            let futures = reviews.into_iter().map(|r| {
                let client = self.client.clone();
                let url = url.clone();
                async move {
                    let resp = client
                        .post(&url)
                        .body(serde_json::to_vec(&r).unwrap())
                        .send()
                        .await
                        .unwrap();
                    let text = resp.text().await.unwrap_or_default();
                    let v: serde_json::Value =
                        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                    v["response"].clone()
                }
            });
            futures_util::future::join_all(futures).await
        })
    }

    /// Runs `f` in the webhook's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics").1
    }

    /// The webhook process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The webhook's VmRSS, in KiB.
    pub fn rss_kib(&self) -> u64 {
        super::attack::rss_kib(self.pid())
    }

    /// The value of gauge or counter line `name` (e.g. `nv2_open_connections`) in /metrics.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find(|l| l.split([' ', '{']).next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM, as the kubelet does.
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// Waits up to `within` for the process to exit; its status, if it did.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// An HTTPS client of this webhook (HTTP/1.1 or HTTP/2 as negotiated).
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client trusting only `ca_pem`.
pub fn client_trusting(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A fixture from tests/data/admission with `{{REGISTRY}}` replaced.
pub fn fixture(name: &str, registry: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(super::data(&format!("admission/{name}"))).unwrap();
    serde_json::from_str(&text.replace("{{REGISTRY}}", registry)).unwrap()
}

/// Applies the response's base64 JSONPatch ("replace" ops) to `object`.
pub fn apply_patch(object: &mut serde_json::Value, response: &serde_json::Value) -> usize {
    use base64::Engine;
    assert_eq!(response["patchType"], "JSONPatch");
    let b64 = response["patch"]
        .as_str()
        .expect("patch must be a base64 string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("patch base64");
    let ops: Vec<serde_json::Value> = serde_json::from_slice(&bytes).expect("patch JSON");
    for op in &ops {
        assert_eq!(op["op"], "replace");
        let target = object
            .pointer_mut(op["path"].as_str().unwrap())
            .expect("patch path exists");
        assert!(
            target.is_string(),
            "replace must hit an existing image field"
        );
        *target = op["value"].clone();
    }
    ops.len()
}

/// Writes a trust directory: a policy and one `ca` store with `certs`.
pub fn write_trust_dir(dir: &Path, policy: &serde_json::Value, store: &str, certs: &[&Path]) {
    let store_dir = dir.join("x509/ca").join(store);
    std::fs::create_dir_all(&store_dir).unwrap();
    for (i, c) in certs.iter().enumerate() {
        std::fs::copy(c, store_dir.join(format!("cert{i}.pem"))).unwrap();
    }
    std::fs::write(
        dir.join("trustpolicy.json"),
        serde_json::to_vec_pretty(policy).unwrap(),
    )
    .unwrap();
}

/// A registry holding `hello-world:v1.0` (signed in `env` with
/// `key.pem`/`cert.pem`, the signature pushed and linked) and `unsigned:v1`,
/// and `env`'s trust directory `trust` trusting `cert.pem` for every image
/// at level strict.
pub fn signed_registry(env: &super::Env) -> super::registry::TestRegistry {
    use super::registry::{Auth, TestRegistry};
    env.keygen("localhost", "key.pem", "cert.pem");
    env.umoci_image("hello", "dev", "a");
    env.umoci_image("hello", "other", "b");
    let reg = TestRegistry::start(Auth::None);
    env.nv2(&[
        "sign",
        "-m",
        "x509",
        "-k",
        "key.pem",
        "-o",
        "hw.nv2",
        "oci-layout:./hello:dev",
    ])
    .ok();
    reg.skopeo_copy(&env.layout("dev"), "hello-world:v1.0", &[]);
    reg.skopeo_copy(&env.layout("other"), "unsigned:v1", &[]);
    let target = format!("{}:v1.0", reg.url("hello-world"));
    env.nv2(&[
        "push",
        "hw.nv2",
        "--insecure",
        "--link",
        &target,
        &reg.url("hello-world"),
    ])
    .ok();
    let policy = serde_json::json!({"version": "1.0", "trustPolicies": [{"name": "all",
        "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:t"], "trustedIdentities": ["*"]}]});
    write_trust_dir(&env.path("trust"), &policy, "t", &[&env.path("cert.pem")]);
    reg
}
