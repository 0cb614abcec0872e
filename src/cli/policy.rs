//! The trust-policy face of the CLI: `nv2 policy check`, and `nv2 verify
//! --trust-dir`, which runs the webhook's own engine for one image so a
//! policy can be tried before it is deployed.

use std::path::{Path, PathBuf};

use super::remote::{block_on, registry_client_options};
use super::{CliError, CliResult, OutputFormat, VerifyArgs};
use crate::admission::engine::{CacheTtls, Decision, Engine};
use crate::oci::reference::Reference;
use crate::oci::target::Target;
use crate::policy::document::TrustPolicy;

#[derive(clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a trust directory and show which policy each image would match.
    Check {
        /// Directory with trustpolicy.json and x509/{ca,signingAuthority}/NAME/*.pem.
        dir: PathBuf,
        /// Image references to match (e.g. nginx:1.25, localhost:5000/app:v1).
        images: Vec<String>,
    },
}

pub(super) fn run(command: PolicyCommand) -> CliResult {
    match command {
        PolicyCommand::Check { dir, images } => check(&dir, &images),
    }
}

fn check(dir: &Path, images: &[String]) -> CliResult {
    let policy = TrustPolicy::load_dir(dir)
        .and_then(TrustPolicy::complete)
        .map_err(CliError::input)?;
    say!(
        "{}: valid, {} trust policies",
        dir.display(),
        policy.policies().len()
    );
    for p in policy.policies() {
        say!(
            "  {}: level {}, scopes {}, {} certificates",
            p.name,
            p.level.name,
            p.scopes().join(", "),
            p.trust.pinned().len()
        );
    }
    let mut unmatched = false;
    for image in images {
        let r = Reference::parse(image).map_err(CliError::input)?;
        match policy.policy_for(&r) {
            Some(p) => say!(
                "{image} ({}) → policy {} (level {})",
                r.repo_name(),
                p.name,
                p.level.name
            ),
            None => {
                unmatched = true;
                say!(
                    "{image} ({}) → no policy matches: it would be denied",
                    r.repo_name()
                );
            }
        }
    }
    if unmatched {
        return Err(CliError::NotVerified(vec![
            "some images match no trust policy".into(),
        ]));
    }
    Ok(())
}

/// `nv2 verify --trust-dir DIR docker://…`: the webhook's decision for one image.
pub(super) fn verify_with_policy(dir: &Path, args: &VerifyArgs) -> CliResult {
    let image = match Target::parse(args.target.as_deref()).map_err(CliError::input)? {
        Target::Remote(r) => r,
        _ => {
            return Err(CliError::Input(
                "--trust-dir verifies a registry target (docker://REF)".into(),
            ));
        }
    };
    let policy = TrustPolicy::load_dir(dir)
        .and_then(TrustPolicy::complete)
        .map_err(CliError::input)?;
    let engine = Engine::new(
        registry_client_options(&args.registry)?,
        CacheTtls::default(),
        None,
    )
    .map_err(CliError::input)?;
    engine.set_policy(policy);
    let outcome = block_on(engine.check(&image.to_string()));
    if let OutputFormat::Json = args.output {
        let (decision, reason) = match &outcome.decision {
            Decision::Allow => ("allow", None),
            Decision::Warn(r) => ("warn", Some(r.clone())),
            Decision::Deny(r) => ("deny", Some(r.clone())),
        };
        let out = serde_json::json!({"image": outcome.image, "policy": outcome.policy, "digest": outcome.digest, "decision": decision, "reason": reason});
        say!("{out}");
    }
    match outcome.decision {
        Decision::Allow | Decision::Warn(_) => {
            if let Decision::Warn(r) = &outcome.decision {
                tell!("nv2: warning: {r}");
            }
            if let OutputFormat::Text = args.output {
                match &outcome.digest {
                    Some(d) => say!("{d}"),
                    None => say!(
                        "{} (policy {} skips verification)",
                        image,
                        outcome.policy.unwrap_or_default()
                    ),
                }
            }
            Ok(())
        }
        Decision::Deny(r) => Err(CliError::NotVerified(vec![format!(
            "{image} is not admitted: {r}"
        )])),
    }
}
