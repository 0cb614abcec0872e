//! A real registry for tests: Debian's docker-registry (distribution 2.8) on
//! 127.0.0.1 and a free port, with its own storage, in four flavours:
//! anonymous, htpasswd (bcrypt), TLS, and token auth with a token issuer
//! written here (the registry itself validates the JWTs).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

/// Registry flavours.
pub enum Auth {
    None,
    Htpasswd { user: String, password: String },
    Tls,
    Token { user: String, password: String },
}

/// A running docker-registry, stopped on drop.
pub struct TestRegistry {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub host: String,
    pub ca: Option<PathBuf>,
    _token_server: Option<TokenServer>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl TestRegistry {
    pub fn start(auth: Auth) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let root = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            root.join("data").display()
        );
        let mut ca = None;
        let mut token_server = None;
        match &auth {
            Auth::None => {}
            Auth::Htpasswd { user, password } => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils)");
                std::fs::write(root.join("htpasswd"), out.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: nv2-test\n    path: {}\n",
                    root.join("htpasswd").display()
                ));
            }
            Auth::Tls => {
                let key = root.join("tls.key");
                let cert = root.join("tls.crt");
                let status = Command::new("openssl")
                    .args([
                        "req",
                        "-x509",
                        "-newkey",
                        "rsa:2048",
                        "-nodes",
                        "-days",
                        "2",
                        "-subj",
                        "/CN=localhost",
                    ])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert)
                    .args([
                        "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-addext",
                        "basicConstraints=critical,CA:FALSE",
                    ])
                    .stderr(Stdio::null())
                    .status()
                    .expect("openssl");
                assert!(status.success());
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                ));
                ca = Some(cert);
            }
            Auth::Token { user, password } => {
                let server = TokenServer::start(user, password);
                std::fs::write(root.join("token.crt"), &server.cert_pem).unwrap();
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: nv2-test-registry\n    issuer: nv2-test-issuer\n    rootcertbundle: {}\n",
                    server.port,
                    root.join("token.crt").display()
                ));
                token_server = Some(server);
            }
        }
        std::fs::write(root.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(root.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry)");
        let reg = TestRegistry {
            child,
            dir,
            port,
            host: format!("localhost:{port}"),
            ca,
            _token_server: token_server,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not start on port {}", self.port);
    }

    /// `127.0.0.1:PORT` of the token issuer (Auth::Token): another host than
    /// the registry's `localhost:PORT`, so it must be named with --auth-host.
    pub fn token_host(&self) -> Option<String> {
        self._token_server
            .as_ref()
            .map(|t| format!("127.0.0.1:{}", t.port))
    }

    /// `docker://localhost:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("docker://{}/{repo}", self.host)
    }

    /// Copies `oci:<layout>` into `<repo>` with skopeo (a real client).
    pub fn skopeo_copy(&self, layout: &str, repo: &str, extra: &[&str]) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--preserve-digests"]);
        match &self.ca {
            Some(ca) => {
                let certs_dir = self.dir.path().join("skopeo-certs");
                std::fs::create_dir_all(&certs_dir).unwrap();
                std::fs::copy(ca, certs_dir.join("ca.crt")).unwrap();
                cmd.arg(format!("--dest-cert-dir={}", certs_dir.display()));
            }
            None => {
                cmd.arg("--dest-tls-verify=false");
            }
        }
        cmd.args(extra);
        cmd.arg(format!("oci:{layout}")).arg(self.url(repo));
        let out = cmd.output().expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl TestRegistry {
    /// Signs `oci-layout:./hello:dev` (key.pem in `env`), copies it to
    /// `repo:tag` and pushes and links the signature, with `user:password`
    /// when given. Returns `docker://HOST/repo:tag`.
    pub fn publish_signed(
        &self,
        env: &super::Env,
        repo: &str,
        tag: &str,
        creds: Option<(&str, &str)>,
    ) -> String {
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
        let creds_arg = creds.map(|(u, p)| format!("{u}:{p}"));
        let copy_args: Vec<&str> = creds_arg
            .iter()
            .flat_map(|c| ["--dest-creds", c.as_str()])
            .collect();
        self.skopeo_copy(&env.layout("dev"), &format!("{repo}:{tag}"), &copy_args);
        let target = format!("{}:{tag}", self.url(repo));
        let repo_url = self.url(repo);
        let mut push = vec!["push", "s.nv2", "--insecure"];
        if let Some((u, p)) = creds {
            push.extend(["-u", u, "-p", p]);
        }
        push.extend(["--link", target.as_str(), repo_url.as_str()]);
        env.nv2(&push).ok();
        target
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token issuer for distribution's `auth: token`: grants what is asked to
/// one user, signs RS256 JWTs with a key whose certificate the registry trusts.
pub struct TokenServer {
    pub port: u16,
    pub cert_pem: String,
    _runtime: tokio::runtime::Runtime,
}

impl TokenServer {
    fn start(user: &str, password: &str) -> Self {
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode, Uri};
        use axum::routing::get;
        use std::collections::HashMap;
        use std::sync::Arc;

        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let params = rcgen::CertificateParams::new(vec!["token-issuer".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let parsed = nv2::signature::Certificate::from_der(cert.der().to_vec()).unwrap();
        let kid = parsed.key_id().to_owned();
        let signing = nv2::signature::SigningKey::from_pem(key.serialize_pem().as_bytes()).unwrap();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        struct St {
            signing: nv2::signature::SigningKey,
            kid: String,
            expected: String,
        }
        let state = Arc::new(St {
            signing,
            kid,
            expected,
        });
        async fn token(
            State(st): State<Arc<St>>,
            headers: HeaderMap,
            uri: Uri,
        ) -> Result<String, StatusCode> {
            let q: HashMap<String, String> = uri
                .query()
                .unwrap_or_default()
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), percent_decode(v)))
                .collect();
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            if auth != Some(st.expected.as_str()) {
                return Err(StatusCode::UNAUTHORIZED);
            }
            let mut access = Vec::new();
            if let Some(scope) = q.get("scope") {
                let parts: Vec<&str> = scope.splitn(3, ':').collect();
                if parts.len() == 3 {
                    access.push(serde_json::json!({"type": parts[0], "name": parts[1], "actions": parts[2].split(',').collect::<Vec<_>>()}));
                }
            }
            let now = nv2::time::now();
            let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": st.kid});
            let claims = serde_json::json!({
                "iss": "nv2-test-issuer", "sub": "tester", "aud": "nv2-test-registry",
                "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()),
                "access": access,
            });
            let signing_input = format!(
                "{}.{}",
                B64URL.encode(header.to_string()),
                B64URL.encode(claims.to_string())
            );
            let sig = st
                .signing
                .sign(nv2::signature::Algorithm::RS256, signing_input.as_bytes())
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
            Ok(
                serde_json::json!({"token": format!("{signing_input}.{}", B64URL.encode(sig))})
                    .to_string(),
            )
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/token", get(token))
            .with_state(state);
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TokenServer {
            port,
            cert_pem: cert.pem(),
            _runtime: runtime,
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
