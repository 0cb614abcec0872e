//! Shared test helpers: a temp directory, the real `nv2` binary, openssl and umoci.
#![allow(dead_code)]

pub mod attack;
pub mod proxy;
pub mod registry;
pub mod standin;
pub mod webhook;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The outcome of running a command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            raw_stdout: out.stdout,
        }
    }

    /// Asserts success and returns stdout trimmed.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(self.code, 0, "expected success, stderr: {}", self.stderr);
        self.stdout.trim().to_owned()
    }

    /// Asserts exit code `code`, a reason containing `needle`, no panic, nothing on stdout.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        assert_eq!(
            self.code, code,
            "expected exit {code}; stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in stderr: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        assert!(
            self.stdout.trim().is_empty(),
            "stdout on failure: {}",
            self.stdout
        );
    }
}

/// A scratch directory where commands run.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// `oci:`-style path of the `hello` layout at `tag`, absolute.
    pub fn layout(&self, tag: &str) -> String {
        format!("{}:{tag}", self.p("hello"))
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read")
    }

    /// `nv2 keygen --cn CN -k KEY -c CERT` (an RSA key and self-signed certificate).
    #[allow(dead_code)]
    pub fn keygen(&self, cn: &str, key: &str, cert: &str) {
        self.nv2(&["keygen", "--cn", cn, "-k", key, "-c", cert])
            .ok();
    }

    /// Runs `nv2 args…` in the scratch directory.
    pub fn nv2(&self, args: &[&str]) -> Run {
        self.nv2_stdin(args, None)
    }

    /// Runs `nv2 args…` with `stdin` piped in.
    pub fn nv2_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nv2"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn nv2");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            // A closed pipe is fine: nv2 may refuse input early.
            let _ = pipe.write_all(input);
        }
        Run::from(child.wait_with_output().expect("wait nv2"))
    }

    /// Runs a tool in the scratch directory and asserts it succeeds.
    #[track_caller]
    pub fn tool(&self, program: &str, args: &[&str]) -> Vec<u8> {
        let out = Command::new(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e} (is it installed? see .ci/run)"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn openssl(&self, args: &[&str]) -> Vec<u8> {
        self.tool("openssl", args)
    }

    /// An OCI image layout `dir` with an empty image tagged `tag`; `label`
    /// makes its manifest differ from other images'.
    pub fn umoci_image(&self, dir: &str, tag: &str, label: &str) {
        if !self.path(dir).join("oci-layout").exists() {
            self.tool("umoci", &["init", "--layout", dir]);
        }
        let image = format!("{dir}:{tag}");
        self.tool("umoci", &["new", "--image", &image]);
        self.tool(
            "umoci",
            &[
                "config",
                "--image",
                &image,
                "--config.label",
                &format!("nv2.test={label}"),
            ],
        );
    }

    /// A self-signed RSA certificate and key made by openssl, CN = `cn`.
    pub fn openssl_self_signed(&self, stem: &str, cn: &str, bits: u32) {
        let key = format!("{stem}.key");
        let cert = format!("{stem}.crt");
        self.openssl(&["genrsa", "-out", &key, &bits.to_string()]);
        self.openssl(&[
            "req",
            "-new",
            "-x509",
            "-key",
            &key,
            "-out",
            &cert,
            "-days",
            "30",
            "-subj",
            &format!("/CN={cn}"),
        ]);
    }
}

/// Path of a file under tests/data.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}
