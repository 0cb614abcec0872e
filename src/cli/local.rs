//! The offline commands: sign, verify, manifest, inspect, keygen.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::remote::{block_on, registry_client};
use super::{CliError, CliResult, KeygenArgs, OutputFormat, RegistryArgs, SignArgs, VerifyArgs};
use crate::io::{MAX_CERT_FILE, MAX_SIGNATURE_FILE, read_bounded};
use crate::oci::reference::Reference;
use crate::oci::target::{Resolved, Target};
use crate::signature::cert::Certificate;
use crate::signature::crypto::SigningKey;
use crate::signature::envelope::{Envelope, SignedContent, Signer};
use crate::signature::keygen::{KeyType, generate};
use crate::signature::trust::TrustMaterial;
use crate::verify::pipeline::{Identities, Requirements, verify_envelope};

fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, CliError> {
    read_bounded(path, limit)
        .map_err(|e| CliError::Input(format!("{what} {}: {e}", path.display())))
}

/// Reads and parses a signature file.
pub(super) fn load_envelope(path: &Path) -> Result<Envelope, CliError> {
    let bytes = read_file(path, MAX_SIGNATURE_FILE, "signature file")?;
    Envelope::parse(&bytes).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Loads every certificate of several PEM files.
pub(super) fn load_certs(paths: &[PathBuf]) -> Result<Vec<Certificate>, CliError> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(Certificate::load_pem_file(p).map_err(CliError::input)?);
    }
    Ok(out)
}

/// Resolves any target; registry targets go through the registry client.
pub(super) fn resolve(target: Option<&str>, registry: &RegistryArgs) -> Result<Resolved, CliError> {
    match Target::parse(target).map_err(CliError::input)? {
        Target::Remote(r) => {
            let client = registry_client(registry)?;
            block_on(crate::verify::remote::resolve(&client, &r)).map_err(CliError::input)
        }
        local => local.resolve_local().map_err(CliError::input),
    }
}

// Over 60 lines: reads the command's inputs in the order they are given and reports each failure as a usage error.
pub(super) fn sign(args: SignArgs) -> CliResult {
    if args.envelope == super::EnvelopeFormat::Jws {
        return sign_jws(&args);
    }
    let resolved = resolve(args.target.as_deref(), &args.registry)?;
    let key_pem = read_file(&args.key, MAX_CERT_FILE, "key file")?;
    let key = SigningKey::from_pem(&key_pem)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.key.display())))?;
    let alg = args.alg.unwrap_or_else(|| key.default_algorithm());
    if !alg.fits(&key.kind()) {
        return Err(CliError::Input(format!(
            "algorithm {alg} does not fit a {} key",
            key.kind()
        )));
    }
    let now = crate::time::now();
    let signer = match &args.cert {
        Some(path) => {
            let chain = Certificate::load_pem_file(path).map_err(CliError::input)?;
            let leaf = &chain[0];
            if !key.matches(leaf.public_key()) {
                return Err(CliError::Input(format!(
                    "key {} does not match the certificate {} ({:?})",
                    args.key.display(),
                    path.display(),
                    leaf.subject()
                )));
            }
            leaf.check_validity(now).map_err(CliError::input)?;
            for r in &args.references {
                let reference = Reference::parse(r).map_err(CliError::input)?;
                if !leaf.covers_host(reference.registry(), true) {
                    return Err(CliError::Input(format!(
                        "certificate {:?} is not valid for registry {} of reference {r} (it covers: {})",
                        leaf.subject(),
                        reference.registry(),
                        leaf.names(true).join(", ")
                    )));
                }
            }
            Signer::with_chain(key, alg, chain)
        }
        None => {
            for r in &args.references {
                Reference::parse(r).map_err(CliError::input)?;
            }
            let spki = key.spki_der().map_err(CliError::input)?;
            Signer::with_key_id(key, alg, &spki)
        }
    };
    let (envelope, default_out) = match &args.append {
        Some(existing) => {
            let mut env = load_envelope(existing)?;
            if *env.digest() != resolved.digest {
                return Err(CliError::Input(format!(
                    "{} signs {}, but the target is {}",
                    existing.display(),
                    env.digest(),
                    resolved.digest
                )));
            }
            if let Some(size) = resolved.size
                && env.signed().size != size
            {
                return Err(CliError::Input(format!(
                    "{} signs a {}-byte manifest, but the target is {size} bytes",
                    existing.display(),
                    env.signed().size
                )));
            }
            env.append(&signer).map_err(CliError::input)?;
            (env, existing.clone())
        }
        None => {
            let size = resolved.size.ok_or_else(|| {
                CliError::Input(
                    "the target's size is unknown; sign the manifest itself, not a bare digest"
                        .into(),
                )
            })?;
            let (nbf, exp) = match args.expiry {
                Some(d) => (now, expiry_after(now, d)?),
                None => (0, 0),
            };
            let content = SignedContent {
                digest: resolved.digest.to_string(),
                size,
                references: args.references.clone(),
                exp,
                nbf,
                iat: now,
            };
            let env = Envelope::sign(&content, &signer).map_err(CliError::input)?;
            (env, PathBuf::from(format!("{}.nv2", resolved.digest.hex())))
        }
    };
    let out = args.output.unwrap_or(default_out);
    std::fs::write(&out, envelope.to_bytes())
        .map_err(|e| CliError::Input(format!("cannot write {}: {e}", out.display())))?;
    say!("{}", resolved.digest);
    Ok(())
}

pub(super) fn verify(args: VerifyArgs) -> CliResult {
    if let Some(dir) = &args.trust_dir {
        return super::policy::verify_with_policy(dir, &args);
    }
    let Some(file) = &args.file else {
        return super::remote::verify_linked(&args);
    };
    let bytes = read_file(file, MAX_SIGNATURE_FILE, "signature file")?;
    if is_jws(&bytes) {
        return verify_jws_file(file, &bytes, &args);
    }
    let envelope =
        Envelope::parse(&bytes).map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
    let trust = trust_from_args(&args)?;
    let resolved = resolve(args.target.as_deref(), &args.registry)?;
    let req = Requirements {
        trust: &trust,
        identities: &Identities::Any,
        now: crate::time::now(),
    };
    let verdict = verify_envelope(&envelope, &resolved.subject(), &req);
    report(
        args.output,
        &verdict,
        verdict.is_verified(),
        &verdict.digest,
        || verdict.reasons(),
        format!("{} does not verify {}:", file.display(), verdict.digest),
    )
}

/// `nv2 sign --envelope jws`: a Notation signature (`notary.x509`) of the
/// target's descriptor, with the chain of `-c` as `x5c`.
fn sign_jws(args: &SignArgs) -> CliResult {
    if args.alg.is_some() || !args.references.is_empty() {
        return Err(CliError::Input(
            "--envelope jws takes neither --alg (the key fixes it) nor --reference".into(),
        ));
    }
    let chain_path = args.cert.as_ref().ok_or_else(|| {
        CliError::Input(
            "--envelope jws needs -c CHAIN (PEM, leaf first): Notation signatures carry x5c".into(),
        )
    })?;
    let resolved = resolve(args.target.as_deref(), &args.registry)?;
    let size = resolved.size.ok_or_else(|| {
        CliError::Input(
            "the target's size is unknown; sign the manifest itself, not a bare digest".into(),
        )
    })?;
    let media_type = resolved
        .media_type
        .clone()
        .ok_or_else(|| CliError::Input("the target's media type is unknown".into()))?;
    let key_pem = read_file(&args.key, MAX_CERT_FILE, "key file")?;
    let key = SigningKey::from_pem(&key_pem)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.key.display())))?;
    let chain = Certificate::load_pem_file(chain_path).map_err(CliError::input)?;
    let now = crate::time::now();
    chain[0].check_validity(now).map_err(CliError::input)?;
    let expiry = args.expiry.map(|d| expiry_after(now, d)).transpose()?;
    let target = crate::signature::jws::TargetArtifact {
        media_type,
        digest: resolved.digest.clone(),
        size,
    };
    let bytes = crate::signature::jws::sign(&crate::signature::jws::JwsSigning {
        target: &target,
        key: &key,
        chain: &chain,
        signing_time: now,
        expiry,
    })
    .map_err(CliError::input)?;
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.jws", resolved.digest.hex())));
    std::fs::write(&out, bytes)
        .map_err(|e| CliError::Input(format!("cannot write {}: {e}", out.display())))?;
    say!("{}", resolved.digest);
    Ok(())
}

/// Whether `bytes` are meant as a Notation JWS envelope: a JSON object
/// without `signed` (a `.nv2` file's) and with a JWS member (`protected`,
/// `payload`, `header`, or the general form's `signatures` of `protected`
/// entries). Its own parser then says what is wrong with it.
fn is_jws(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes).is_ok_and(|m| {
        let general_jws = m
            .get("signatures")
            .and_then(serde_json::Value::as_array)
            .and_then(|l| l.first())
            .is_some_and(|first| first.get("protected").is_some());
        !m.contains_key("signed")
            && (general_jws
                || ["protected", "payload", "header"]
                    .iter()
                    .any(|k| m.contains_key(*k)))
    })
}

/// `nv2 verify -f SIGNATURE.jws -c CERT|--ca-cert ROOT TARGET`: a Notation
/// JWS signature checked with the certificates given, as a `.nv2` file is.
fn verify_jws_file(file: &Path, bytes: &[u8], args: &VerifyArgs) -> CliResult {
    let trust = trust_from_args(args)?;
    let resolved = resolve(args.target.as_deref(), &args.registry)?;
    let req = Requirements {
        trust: &trust,
        identities: &Identities::Any,
        now: crate::time::now(),
    };
    let verdict = crate::verify::verify_notation_jws(
        bytes,
        &resolved.subject(),
        resolved.media_type.as_deref(),
        &req,
    )
    .map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
    report(
        args.output,
        &verdict,
        verdict.is_verified(),
        &verdict.digest,
        || verdict.reasons(),
        format!("{} does not verify {}:", file.display(), verdict.digest),
    )
}

/// Prints a verification outcome: the verdict as JSON when asked, the digest
/// on success; otherwise the headline and one reason per line (exit 1).
pub(super) fn report<V: serde::Serialize>(
    output: OutputFormat,
    verdict: &V,
    verified: bool,
    digest: &crate::oci::digest::Digest,
    reasons: impl FnOnce() -> Vec<String>,
    headline: String,
) -> CliResult {
    match output {
        OutputFormat::Json => say!("{}", serde_json::to_string(verdict).unwrap_or_default()),
        OutputFormat::Text if verified => say!("{digest}"),
        OutputFormat::Text => {}
    }
    if verified {
        return Ok(());
    }
    let mut lines = vec![headline];
    lines.extend(reasons());
    Err(CliError::NotVerified(lines))
}

/// The pinned certificates and CA roots named by `-c` and `--ca-cert`.
pub(super) fn trust_from_args(args: &VerifyArgs) -> Result<TrustMaterial, CliError> {
    let pinned = load_certs(&args.certs)?;
    let roots = load_certs(&args.ca_certs)?;
    TrustMaterial::new(pinned, roots).map_err(CliError::input)
}

pub(super) fn manifest(target: Option<&str>, registry: &RegistryArgs) -> CliResult {
    let resolved = resolve(target, registry)?;
    let bytes = resolved.bytes.ok_or_else(|| {
        CliError::Input(format!(
            "target {} has no manifest bytes (only a digest)",
            resolved.digest
        ))
    })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|_| out.flush())
        .map_err(|e| CliError::Input(format!("cannot write the manifest: {e}")))
}

pub(super) fn inspect(file: &Path, output: OutputFormat) -> CliResult {
    let bytes = read_file(file, MAX_SIGNATURE_FILE, "signature file")?;
    if is_jws(&bytes) {
        let env = crate::signature::jws::JwsEnvelope::parse(&bytes)
            .map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
        let info = crate::cli::inspect::inspect_jws(&env);
        match output {
            OutputFormat::Text => say_raw!("{info}"),
            OutputFormat::Json => say!(
                "{}",
                serde_json::to_string_pretty(&info).unwrap_or_default()
            ),
        }
        return Ok(());
    }
    let env =
        Envelope::parse(&bytes).map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
    let info = crate::cli::inspect::inspect(&env);
    match output {
        OutputFormat::Text => say_raw!("{info}"),
        OutputFormat::Json => say!(
            "{}",
            serde_json::to_string_pretty(&info).unwrap_or_default()
        ),
    }
    Ok(())
}

pub(super) fn keygen(args: KeygenArgs) -> CliResult {
    let key_type = match args.ec {
        None => KeyType::Rsa,
        Some(super::Curve::P256) => KeyType::P256,
        Some(super::Curve::P384) => KeyType::P384,
    };
    if !args.force {
        for p in [&args.key, &args.cert] {
            if p.exists() {
                return Err(CliError::Input(format!(
                    "{} exists; use --force to overwrite it",
                    p.display()
                )));
            }
        }
    }
    let generated = generate(&args.cn, key_type, args.days).map_err(CliError::input)?;
    write_private(&args.key, generated.key_pem.as_bytes())?;
    std::fs::write(&args.cert, generated.cert_pem)
        .map_err(|e| CliError::Input(format!("cannot write {}: {e}", args.cert.display())))?;
    tell!(
        "wrote {} (private key) and {} (certificate)",
        args.key.display(),
        args.cert.display()
    );
    Ok(())
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> CliResult {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |e: std::io::Error| CliError::Input(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    // An existing file keeps its mode on open; force 0600.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    file.write_all(bytes).map_err(err)
}

/// The latest expiry a signature may carry: the end of year 9999, the last
/// instant RFC 3339 can write.
const LATEST_EXPIRY: i64 = 253_402_300_799;

/// `now + d` as a Unix time, or a usage error when it is past
/// [`LATEST_EXPIRY`] (never a wrapped, already-expired time).
fn expiry_after(now: i64, d: std::time::Duration) -> Result<i64, CliError> {
    i64::try_from(d.as_secs())
        .ok()
        .and_then(|secs| now.checked_add(secs))
        .filter(|exp| *exp <= LATEST_EXPIRY)
        .ok_or_else(|| {
            CliError::Input(format!(
                "--expiry {}s is too far: a signature expires by the end of year 9999 at the latest",
                d.as_secs()
            ))
        })
}
