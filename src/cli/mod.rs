//! Command-line interface: argument parsing and exit codes only. Each command
//! is a few lines over the library.
//!
//! Exit codes: 0 verified (or done), 1 not verified, 2 usage or input error.

/// `println!` that fails the command — one line, exit 2 — instead of
/// panicking when stdout cannot be written (a closed pipe, a full disk).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
            .map_err(|e| $crate::cli::CliError::Input(format!("cannot write the output: {e}")))?
    }};
}

/// `print!` (no newline) that fails the command as [`say!`] does.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
            .map_err(|e| $crate::cli::CliError::Input(format!("cannot write the output: {e}")))?
    }};
}

/// `eprintln!` that never panics: a message nobody can read is dropped.
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod expect_denial;
mod inspect;
mod local;
mod policy;
mod remote;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::signature::crypto::Algorithm;

/// A command's failure, and the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or unusable input: exit 2.
    Input(String),
    /// The check ran and did not pass: exit 1, one reason per line.
    NotVerified(Vec<String>),
}

impl CliError {
    pub fn input(e: impl std::fmt::Display) -> Self {
        CliError::Input(e.to_string())
    }
}

pub type CliResult = Result<(), CliError>;

/// Parses a duration flag (`30s`, `15m`, `8760h`, `365d`) when the command
/// line is read, so a bad one is a usage error before any work.
/// Milliseconds too (`7500ms`), as the chart's values allow for deadlines.
pub(crate) fn duration_arg(s: &str) -> Result<std::time::Duration, crate::time::DurationError> {
    if let Some(ms) = s.strip_suffix("ms")
        && let Ok(n) = ms.parse::<u64>()
        && n > 0
        && ms.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(std::time::Duration::from_millis(n));
    }
    crate::time::parse_duration(s).map(std::time::Duration::from_secs)
}

#[derive(Parser)]
#[command(name = "nv2", version, about = "Sign and verify container images (Notary v2)", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign a manifest (from stdin or TARGET) and write a .nv2 signature file.
    Sign(SignArgs),
    /// Verify a signature file against a manifest; prints the digest on success.
    Verify(VerifyArgs),
    /// Print a target's manifest bytes, exactly (its digest is over these bytes).
    Manifest {
        /// file:PATH, oci-layout:DIR[:TAG|@DIGEST], docker://REF, oci://REF; stdin when absent.
        target: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Push a signature file to a repository as an (unlinked) OCI artifact; prints its digest.
    Push(remote::PushArgs),
    /// Link a pushed signature to its target image, making it a referrer; prints the linked digest.
    Link(remote::LinkArgs),
    /// List the signatures linked to an image.
    List(remote::ListArgs),
    /// Run the Kubernetes admission webhook (HTTPS).
    Webhook(webhook::WebhookArgs),
    /// Dry-run a Pod of an unsigned image through the API server; succeed only if nv2 denies it.
    ExpectDenial(expect_denial::ExpectDenialArgs),
    /// Trust policy tools.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Describe a signature file without verifying it.
    Inspect {
        /// The .nv2 file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Generate a signing key and a self-signed certificate.
    Keygen(KeygenArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EnvelopeFormat {
    Nv2,
    Jws,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Method {
    X509,
}

#[derive(clap::Args)]
struct SignArgs {
    /// Signing method.
    #[arg(short = 'm', long, value_enum, default_value = "x509")]
    method: Method,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(short = 'k', long)]
    key: PathBuf,
    /// Certificate chain (PEM, leaf first) to embed as x5c; without it the key id is used.
    #[arg(short = 'c', long)]
    cert: Option<PathBuf>,
    /// Reference the signature vouches for (repeatable); its registry must be covered by the certificate.
    #[arg(short = 'r', long = "reference")]
    references: Vec<String>,
    /// Validity from now, e.g. 8760h (s, m, h, d); sets nbf and exp.
    #[arg(short = 'e', long, value_parser = duration_arg)]
    expiry: Option<std::time::Duration>,
    /// Output file; default <hex>.nv2 in the current directory.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Add a co-signature to this existing signature file.
    #[arg(long, conflicts_with_all = ["references", "expiry"])]
    append: Option<PathBuf>,
    /// Signature algorithm (default RS256 for RSA, ES256/ES384 for EC).
    #[arg(long)]
    alg: Option<Algorithm>,
    /// Envelope to write: nv2's own `.nv2`, or a Notation JWS (needs -c; the key fixes the algorithm).
    #[arg(long, value_enum, default_value = "nv2", conflicts_with_all = ["append"])]
    envelope: EnvelopeFormat,
    /// file:PATH, oci-layout:DIR[:TAG|@DIGEST], docker://REF, oci://REF; stdin when absent.
    target: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The .nv2 signature file; without it, the signatures linked to a registry target are verified.
    #[arg(short = 'f', long)]
    file: Option<PathBuf>,
    /// Pinned certificate (PEM) trusted for its key (repeatable).
    #[arg(short = 'c', long = "cert")]
    certs: Vec<PathBuf>,
    /// CA certificate (PEM) trusted as a root for x5c chains (repeatable).
    #[arg(long = "ca-cert")]
    ca_certs: Vec<PathBuf>,
    /// Verify under a Notation trust policy directory (trustpolicy.json + x509/ stores), as the webhook does.
    #[arg(long, conflicts_with_all = ["file", "certs", "ca_certs"])]
    trust_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
    /// file:PATH, oci-layout:DIR[:TAG|@DIGEST], sha256:<hex>, docker://REF, oci://REF; stdin when absent.
    target: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How to reach a registry; shared by every command that may talk to one.
#[derive(clap::Args, Clone)]
pub(crate) struct RegistryArgs {
    /// Use plain HTTP (for an HTTPS registry with a private CA, use --ca-file instead).
    #[arg(long)]
    insecure: bool,
    /// CA certificates (PEM) to trust for the registry's HTTPS certificate.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Registry username (else Docker's config.json is used).
    #[arg(short = 'u', long, env = "NV2_USERNAME")]
    username: Option<String>,
    /// Registry password or token.
    #[arg(short = 'p', long, env = "NV2_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Bound on each registry request, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    timeout: std::time::Duration,
    /// Bound on the whole command's registry work (all its requests), e.g. 2m.
    #[arg(long, default_value = "2m", value_parser = duration_arg)]
    deadline: std::time::Duration,
    /// A token service on another host that may receive REGISTRY's credentials
    /// (repeatable), e.g. docker.io=auth.docker.io.
    #[arg(long = "auth-host", value_name = "REGISTRY=HOST[:PORT]")]
    auth_hosts: Vec<String>,
}

/// The curves `nv2 keygen --ec` offers.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Curve {
    P256,
    P384,
}

#[derive(clap::Args)]
struct KeygenArgs {
    /// Common name, also the certificate's DNS SAN (e.g. your registry host).
    #[arg(long)]
    cn: String,
    /// Where to write the private key (PKCS#8 PEM, mode 0600).
    #[arg(short = 'k', long)]
    key: PathBuf,
    /// Where to write the self-signed certificate (PEM).
    #[arg(short = 'c', long)]
    cert: PathBuf,
    /// Generate an EC key on this curve instead of RSA-2048.
    #[arg(long, value_enum)]
    ec: Option<Curve>,
    /// Certificate validity in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

/// Shell completions, written whole or not at all.
fn completions(shell: clap_complete::Shell) -> CliResult {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nv2", &mut script);
    let text = String::from_utf8_lossy(&script);
    say!("{}", text.trim_end());
    Ok(())
}

/// Parses the command line, runs the command, and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    // The webhook sets up its own logging (level info, optional JSON). Other
    // commands log nothing above debug, so they pay for a subscriber only
    // when NV2_LOG asks for one (it is a measurable part of a local verify).
    if !matches!(cli.command, Command::Webhook(_)) && std::env::var_os("NV2_LOG").is_some() {
        init_logging();
    }
    let result = match cli.command {
        Command::Sign(args) => local::sign(args),
        Command::Verify(args) => local::verify(args),
        Command::Manifest { target, registry } => local::manifest(target.as_deref(), &registry),
        Command::Push(args) => remote::push(args),
        Command::Link(args) => remote::link(args),
        Command::List(args) => remote::list(args),
        Command::Webhook(args) => webhook::webhook(args),
        Command::Policy { command } => policy::run(command),
        Command::ExpectDenial(args) => expect_denial::run(args),
        Command::Inspect { file, output } => local::inspect(&file, output),
        Command::Keygen(args) => local::keygen(args),
        Command::Completions { shell } => completions(shell),
    };
    // What is still buffered must reach stdout too, or the command fails.
    let result = result.and_then(|()| {
        use std::io::Write as _;
        std::io::stdout()
            .flush()
            .map_err(|e| CliError::Input(format!("cannot write the output: {e}")))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Input(msg)) => {
            tell!("nv2: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::NotVerified(reasons)) => {
            for r in reasons {
                tell!("nv2: {r}");
            }
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NV2_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn durations_take_the_units_the_chart_allows() {
        let ok = |s: &str| super::duration_arg(s).unwrap();
        assert_eq!(ok("7500ms"), Duration::from_millis(7500));
        assert_eq!(ok("8s"), Duration::from_secs(8));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        for bad in [
            "0ms",
            "ms",
            "1.5s",
            "1m30s",
            "-1ms",
            "+5ms",
            "5 ms",
            "",
            "s",
            "18446744073709551616ms",
        ] {
            assert!(super::duration_arg(bad).is_err(), "{bad:?} accepted");
        }
    }
}
