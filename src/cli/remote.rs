//! The registry commands: push, link, list, and verify of linked signatures.

use std::path::PathBuf;

use super::local::trust_from_args;
use super::{CliError, CliResult, OutputFormat, RegistryArgs, VerifyArgs};
use crate::oci::artifact::{ArtifactManifest, EMPTY_CONFIG};
use crate::oci::client::{
    AuthHost, Credentials, DockerConfig, OCI_MANIFEST, Registry, RegistryError, RegistryOptions,
};
use crate::oci::digest::Digest;
use crate::oci::reference::Reference;
use crate::oci::target::Target;
use crate::signature::envelope::Envelope;
use crate::signature::format::SignatureEnvelope;
use crate::verify::pipeline::{Identities, Requirements};

#[derive(clap::Args)]
pub(crate) struct PushArgs {
    /// The .nv2 signature file.
    file: PathBuf,
    /// Repository to push to: docker://HOST/REPO (a tag, if given, is ignored).
    repository: String,
    /// Also link the pushed signature to this target (docker://REF).
    #[arg(long)]
    link: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
pub(crate) struct LinkArgs {
    /// The pushed signature: docker://HOST/REPO@sha256:<digest>.
    signature: String,
    /// The image it signs: docker://HOST/REPO:TAG or @sha256:<digest>.
    target: String,
    /// Link even when the signature does not sign the target's digest.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// The image: docker://HOST/REPO:TAG or @sha256:<digest>.
    target: String,
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Runs a future on a one-thread runtime: the CLI makes a few requests at most.
/// The bound on a command's registry work (`--deadline`): per-request
/// timeouts alone let a registry that answers slowly stretch a command to
/// many times `--timeout`.
static DEADLINE: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs `f` to completion within the command's `--deadline` (exit 2 past it).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async {
            let deadline = *DEADLINE.get_or_init(|| DEFAULT_DEADLINE);
            match tokio::time::timeout(deadline, f).await {
                Ok(out) => out,
                Err(_) => {
                    tell!(
                        "nv2: the registry work did not finish within the --deadline of {}s",
                        deadline.as_secs()
                    );
                    std::process::exit(2);
                }
            }
        }),
        Err(e) => {
            tell!("nv2: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    }
}

/// A registry client configured from the command line.
pub(crate) fn registry_client(args: &RegistryArgs) -> Result<Registry, CliError> {
    Registry::new(registry_client_options(args)?).map_err(CliError::input)
}

/// Registry options from the command line.
pub(crate) fn registry_client_options(args: &RegistryArgs) -> Result<RegistryOptions, CliError> {
    let credentials = match (&args.username, &args.password) {
        (Some(u), Some(p)) => Credentials::explicit(u.clone(), p.clone()),
        (Some(_), None) => {
            return Err(CliError::Input(
                "--username needs --password (or NV2_PASSWORD)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(CliError::Input(
                "--password needs --username (or NV2_USERNAME)".into(),
            ));
        }
        (None, None) => match DockerConfig::default_path() {
            Some(path) => Credentials::anonymous()
                .with_docker_config(DockerConfig::load(&path).map_err(CliError::input)?),
            None => Credentials::anonymous(),
        },
    };
    let timeout = args.timeout;
    let _ = DEADLINE.set(args.deadline.max(std::time::Duration::from_secs(1)));
    let options = RegistryOptions {
        insecure_all: args.insecure,
        ca_file: args.ca_file.clone(),
        credentials,
        request_timeout: timeout,
        auth_hosts: auth_hosts(&args.auth_hosts)?,
        ..RegistryOptions::default()
    };
    Ok(options)
}

/// Parses `--auth-host REGISTRY=HOST[:PORT]` values.
pub(crate) fn auth_hosts(values: &[String]) -> Result<Vec<AuthHost>, CliError> {
    values
        .iter()
        .map(|v| AuthHost::parse(v).map_err(CliError::input))
        .collect()
}

/// Parses a `docker://` or `oci://` reference argument.
fn remote_ref(arg: &str) -> Result<Reference, CliError> {
    match Target::parse(Some(arg)).map_err(CliError::input)? {
        Target::Remote(r) => Ok(r),
        _ => Err(CliError::Input(format!(
            "{arg}: expected docker://REF or oci://REF"
        ))),
    }
}

fn reg_err(e: RegistryError) -> CliError {
    CliError::Input(e.to_string())
}

pub(super) fn push(args: PushArgs) -> CliResult {
    let bytes = crate::io::read_bounded(&args.file, crate::io::MAX_SIGNATURE_FILE)
        .map_err(|e| CliError::Input(format!("signature file {}: {e}", args.file.display())))?;
    let envelope = Envelope::parse(&bytes)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.file.display())))?;
    let repo = remote_ref(&args.repository)?;
    let client = registry_client(&args.registry)?;
    let created = crate::time::rfc3339(crate::time::now());
    let manifest = ArtifactManifest::for_signature(&bytes, &created);
    let manifest_bytes = manifest.to_bytes();
    let digest = block_on(async {
        client.push_blob(&repo, EMPTY_CONFIG).await?;
        client.push_blob(&repo, &bytes).await?;
        let digest = Digest::of(&manifest_bytes);
        client
            .put_manifest(&repo, digest.as_str(), OCI_MANIFEST, manifest_bytes.clone())
            .await
            .map(|p| p.digest)
    })
    .map_err(reg_err)?;
    say!("{digest}");
    if let Some(target) = &args.link {
        let target = remote_ref(target)?;
        let linked = block_on(link_manifest(
            &client,
            &repo,
            &manifest,
            Some(&envelope),
            &target,
            false,
        ))?;
        tell!("linked as {linked}");
    }
    Ok(())
}

pub(super) fn link(args: LinkArgs) -> CliResult {
    let sig_ref = remote_ref(&args.signature)?;
    if sig_ref.digest().is_none() {
        return Err(CliError::Input(format!(
            "{}: name the pushed signature by digest (…@sha256:<hex>, as printed by nv2 push)",
            args.signature
        )));
    }
    let target = remote_ref(&args.target)?;
    let client = registry_client(&args.registry)?;
    let linked = block_on(async {
        let m = client.get_manifest(&sig_ref).await.map_err(reg_err)?;
        let manifest = ArtifactManifest::parse(&m.bytes)
            .map_err(|e| CliError::Input(format!("{sig_ref}: {e}")))?;
        if !manifest.is_signature() {
            return Err(CliError::Input(format!(
                "{sig_ref} is not an nv2 signature artifact"
            )));
        }
        link_manifest(&client, &sig_ref, &manifest, None, &target, args.force).await
    })?;
    say!("{linked}");
    Ok(())
}

/// Checks that the signature signs the target (unless `force`), then links
/// it ([`crate::oci::referrers::link`]).
async fn link_manifest(
    client: &Registry,
    sig_repo: &Reference,
    manifest: &ArtifactManifest,
    envelope: Option<&Envelope>,
    target: &Reference,
    force: bool,
) -> Result<Digest, CliError> {
    let target_manifest = client.get_manifest(target).await.map_err(reg_err)?;
    let blob_desc = manifest
        .signature_blob()
        .ok_or_else(|| CliError::Input("the signature artifact has no signature layer".into()))?;
    let sig_bytes = client
        .get_blob(sig_repo, blob_desc, crate::oci::client::MAX_SIGNATURE_BLOB)
        .await
        .map_err(reg_err)?;
    let parsed;
    let envelope = match envelope {
        Some(e) => e,
        None => {
            parsed = Envelope::parse(&sig_bytes)
                .map_err(|e| CliError::Input(format!("the pushed signature: {e}")))?;
            &parsed
        }
    };
    if *envelope.digest() != target_manifest.digest && !force {
        return Err(CliError::Input(format!(
            "the signature signs {}, but {target} is {}; refusing to link (--force to link anyway)",
            envelope.digest(),
            target_manifest.digest
        )));
    }
    crate::oci::referrers::link(
        client,
        sig_repo,
        manifest,
        &sig_bytes,
        target,
        &target_manifest,
    )
    .await
    .map_err(CliError::input)
}

pub(super) fn list(args: ListArgs) -> CliResult {
    let target = remote_ref(&args.target)?;
    let client = registry_client(&args.registry)?;
    let (digest, found) = block_on(async {
        let resolved = crate::verify::remote::resolve(&client, &target).await?;
        let found = crate::verify::remote::discover(&client, &target, &resolved.digest).await?;
        Ok::<_, RegistryError>((resolved.digest, found))
    })
    .map_err(reg_err)?;
    #[derive(serde::Serialize)]
    struct Row {
        digest: String,
        signers: Vec<String>,
        created: Option<String>,
        error: Option<String>,
    }
    let rows: Vec<Row> = found
        .signatures
        .iter()
        .map(|f| Row {
            digest: f.manifest_digest.clone(),
            signers: f.envelope.as_ref().map(signers).unwrap_or_default(),
            created: f.created.clone(),
            error: f
                .envelope
                .as_ref()
                .err()
                .map(|e| crate::verify::pipeline::bounded_reason(e.to_string())),
        })
        .collect();
    match args.output {
        OutputFormat::Json => {
            let out = serde_json::json!({"target": target.to_string(), "digest": digest, "signatures": rows});
            say!("{out}");
        }
        OutputFormat::Text => {
            say!("{target}@{digest}");
            if rows.is_empty() {
                say!("  no linked signatures");
            }
            for r in rows {
                let who = match &r.error {
                    Some(e) => format!("unreadable: {e}"),
                    None => r.signers.join("; "),
                };
                say!(
                    "  {}  {}  {}",
                    r.digest,
                    r.created.as_deref().unwrap_or("-"),
                    who
                );
            }
        }
    }
    Ok(())
}

/// Who signed: each signature's leaf subject, or its key id.
fn signers(env: &SignatureEnvelope) -> Vec<String> {
    let SignatureEnvelope::Nv2(env) = env;
    crate::cli::inspect::inspect(env)
        .signatures
        .into_iter()
        .map(|s| match (s.certificates.first(), s.kid) {
            (Some(c), _) => format!("{} {}", s.alg, c.subject),
            (None, Some(kid)) => format!("{} kid {kid}", s.alg),
            (None, None) => s.alg,
        })
        .collect()
}

/// `nv2 verify` without `-f`: every linked signature of a registry target.
pub(super) fn verify_linked(args: &VerifyArgs) -> CliResult {
    let target = match Target::parse(args.target.as_deref()).map_err(CliError::input)? {
        Target::Remote(r) => r,
        _ => {
            return Err(CliError::Input(
                "verify needs -f FILE, or a registry target (docker://REF) whose linked signatures to verify".into(),
            ));
        }
    };
    let trust = trust_from_args(args)?;
    let client = registry_client(&args.registry)?;
    let req = Requirements {
        trust: &trust,
        identities: &Identities::Any,
        now: crate::time::now(),
    };
    let verdict = block_on(async {
        let resolved = crate::verify::remote::resolve(&client, &target).await?;
        crate::verify::remote::verify_linked(&client, &target, &resolved.subject(), &req).await
    })
    .map_err(reg_err)?;
    super::local::report(
        args.output,
        &verdict,
        verdict.is_verified(),
        &verdict.digest,
        || verdict.reasons(),
        format!("{target}@{} is not verified:", verdict.digest),
    )
}
