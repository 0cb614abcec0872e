//! `nv2 expect-denial`: asks the API server to create — as a server-side dry
//! run, nothing is stored — a Pod running an image no trusted signer signed,
//! and succeeds only when an nv2 admission webhook denies it. The chart's
//! `helm test` runs it in-cluster; it also checks a cluster from outside.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;

use super::{CliError, CliResult};

#[derive(clap::Args)]
pub(crate) struct ExpectDenialArgs {
    /// A namespace nv2 checks (not excluded from its webhooks).
    #[arg(long)]
    namespace: String,
    /// An image that no trusted signer signed.
    #[arg(long)]
    image: String,
    /// The denial must come from the validating webhook of this name.
    #[arg(long, default_value = "validate.nv2.io")]
    webhook: String,
    /// Give up (exit 2) when the API server has not answered within this.
    #[arg(long, default_value = "30s", value_parser = super::duration_arg)]
    timeout: std::time::Duration,
}

/// What the API server answered to the dry-run create.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Created,
    Refused { code: u16, message: String },
}

/// Why nv2 could not look at signatures at all: such a denial shows that
/// nv2 fails closed, not that it checks signatures, so the test fails.
const OPERATIONAL: &[&str] = &[
    "cannot resolve the image",
    "cannot fetch signatures",
    "did not finish within",
    "no valid trust policy is loaded",
    "no trust policy scope matches",
    "pull secret",
    "distinct images; at most",
    "verification is shutting down",
    "verification failed",
];

/// The verdict: `Ok(message)` when the refusal is a 403 denial by exactly
/// the webhook `webhook`, naming `image` and a signature reason (none, or
/// none trusted); otherwise why the check fails.
fn judge(answer: &Answer, webhook: &str, image: &str) -> Result<String, String> {
    let (code, message) = match answer {
        Answer::Created => {
            return Err(
                "the Pod was admitted: nv2 did not deny an unsigned image (is the namespace excluded, \
                 or the webhook's failurePolicy Ignore while it is down?)"
                    .into(),
            );
        }
        Answer::Refused { code, message } => (*code, message),
    };
    let denied_by = message
        .strip_prefix("admission webhook \"")
        .and_then(|rest| rest.split_once('"'))
        .filter(|(_, after)| after.starts_with(" denied the request: "))
        .map(|(name, after)| (name, &after[" denied the request: ".len()..]));
    let Some((name, reason)) = denied_by else {
        return Err(format!(
            "refused ({code}) but not by an admission webhook: {message}"
        ));
    };
    if name != webhook {
        return Err(format!(
            "denied by webhook {name:?}, not {webhook:?}: {message}"
        ));
    }
    if code != 403 {
        return Err(format!(
            "{webhook} answered {code}, not a denial (403): {message}"
        ));
    }
    if !reason.starts_with("nv2 denied: ") || !reason.contains(&format!("image {image}")) {
        return Err(format!(
            "{webhook} denied, but not for the image {image}: {message}"
        ));
    }
    if let Some(why) = OPERATIONAL.iter().find(|o| reason.contains(*o)) {
        return Err(format!(
            "nv2 denied without checking signatures ({why}): it fails closed, but the check itself did not run: {message}"
        ));
    }
    if !(reason.contains("no signatures are linked") || reason.contains(": signature ")) {
        return Err(format!(
            "nv2 denied for a reason that is not a signature's: {message}"
        ));
    }
    Ok(message.clone())
}

pub(super) fn run(args: ExpectDenialArgs) -> CliResult {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Input(format!("cannot start the async runtime: {e}")))?;
    let answer = runtime
        .block_on(async { tokio::time::timeout(args.timeout, dry_run_create(&args)).await })
        .map_err(|_| {
            CliError::Input(format!(
                "the API server did not answer within {:?}",
                args.timeout
            ))
        })??;
    match judge(&answer, &args.webhook, &args.image) {
        Ok(message) => {
            say!("denied as expected: {message}");
            Ok(())
        }
        Err(reason) => Err(CliError::NotVerified(vec![reason])),
    }
}

async fn dry_run_create(args: &ExpectDenialArgs) -> Result<Answer, CliError> {
    let client = kube::Client::try_default().await.map_err(|e| {
        CliError::Input(format!("Kubernetes client (in-cluster or kubeconfig): {e}"))
    })?;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "nv2-expect-denial-", "labels": {"app.kubernetes.io/name": "nv2-expect-denial"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "unsigned", "image": args.image}]},
    }))
    .map_err(CliError::input)?;
    let params = PostParams {
        dry_run: true,
        field_manager: Some("nv2-expect-denial".into()),
    };
    match Api::<Pod>::namespaced(client, &args.namespace)
        .create(&params, &pod)
        .await
    {
        Ok(_) => Ok(Answer::Created),
        Err(kube::Error::Api(status)) => Ok(Answer::Refused {
            code: status.code,
            message: status.message.clone(),
        }),
        Err(e) => Err(CliError::Input(format!("cannot ask the API server: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(message: &str) -> Answer {
        Answer::Refused {
            code: 403,
            message: message.into(),
        }
    }

    const IMAGE: &str = "docker.io/library/busybox:1.36";

    fn denial(reason: &str) -> String {
        format!(
            "admission webhook \"validate.nv2.io\" denied the request: nv2 denied: image {IMAGE}: {reason}"
        )
    }

    fn judged(answer: &Answer) -> Result<String, String> {
        judge(answer, "validate.nv2.io", IMAGE)
    }

    #[test]
    fn only_a_signature_denial_by_nv2s_validating_webhook_passes() {
        for ok in [
            denial("no signatures are linked to sha256:ab"),
            denial(
                "signature sha256:cd: signature 1 (ES256, CN=x): not signed by a trusted certificate",
            ),
        ] {
            assert_eq!(judged(&refused(&ok)), Ok(ok.clone()));
        }
        let fails = [
            (Answer::Created, "admitted"),
            (
                refused("admission webhook \"validate.kyverno.svc\" denied the request: x"),
                "not \"validate.nv2.io\"",
            ),
            (
                refused(
                    "admission webhook \"policy.evil.nv2.io\" denied the request: nv2 denied: x",
                ),
                "not \"validate.nv2.io\"",
            ),
            (
                refused("admission webhook \"mutate.nv2.io\" denied the request: nv2 denied: x"),
                "not \"validate.nv2.io\"",
            ),
            (
                refused(
                    "pods is forbidden: User \"system:serviceaccount:x:y\" cannot create resource \"pods\"",
                ),
                "not by an admission webhook",
            ),
            (
                refused("x admission webhook \"validate.nv2.io\" denied the request: y"),
                "not by an admission webhook",
            ),
            (
                refused("admission webhook \"validate.nv2.io\" failed calling webhook"),
                "not by an admission webhook",
            ),
            (
                refused(&denial(
                    "cannot resolve the image: manifest x: cannot reach the registry: timed out",
                )),
                "without checking signatures",
            ),
            (
                refused(&denial("verification did not finish within 8s")),
                "without checking signatures",
            ),
            (
                refused(
                    "admission webhook \"validate.nv2.io\" denied the request: nv2 denied: the object names 65 distinct images; at most 64 are verified per request",
                ),
                "not for the image",
            ),
            (
                refused(&denial("no valid trust policy is loaded")),
                "without checking signatures",
            ),
            (
                refused(&denial("invalid image reference")),
                "not a signature's",
            ),
            (
                refused(
                    "admission webhook \"validate.nv2.io\" denied the request: nv2 denied: image other.io/x:1: no signatures are linked",
                ),
                "not for the image",
            ),
            (
                Answer::Refused {
                    code: 400,
                    message: denial("no signatures are linked"),
                },
                "not a denial (403)",
            ),
        ];
        for (answer, why) in fails {
            let err = judged(&answer).unwrap_err();
            assert!(err.contains(why), "{answer:?}: {err}");
        }
    }
}
