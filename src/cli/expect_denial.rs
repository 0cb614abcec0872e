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
    /// The denial must come from a webhook whose name ends with this.
    #[arg(long, default_value = ".nv2.io")]
    webhook_suffix: String,
}

/// What the API server answered to the dry-run create.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Created,
    Refused { code: u16, message: String },
}

/// The verdict: `Ok(message)` when the refusal is an admission denial by a
/// webhook named `*suffix`; otherwise why the check fails.
fn judge(answer: &Answer, suffix: &str) -> Result<String, String> {
    match answer {
        Answer::Created => Err(
            "the Pod was admitted: nv2 did not deny an unsigned image (is the namespace excluded, \
             or the webhook's failurePolicy Ignore while it is down?)"
                .into(),
        ),
        Answer::Refused { code, message } => {
            let webhook = message
                .strip_prefix("admission webhook \"")
                .and_then(|rest| rest.split_once('"'))
                .filter(|(_, after)| after.starts_with(" denied the request"))
                .map(|(name, _)| name);
            match webhook {
                Some(name) if name.ends_with(suffix) && !suffix.is_empty() => Ok(message.clone()),
                Some(name) => Err(format!("denied by webhook {name:?}, not nv2: {message}")),
                None => Err(format!(
                    "refused ({code}) but not by an admission webhook: {message}"
                )),
            }
        }
    }
}

pub(super) fn run(args: ExpectDenialArgs) -> CliResult {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Input(format!("cannot start the async runtime: {e}")))?;
    let answer = runtime.block_on(dry_run_create(&args))?;
    match judge(&answer, &args.webhook_suffix) {
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

    #[test]
    fn only_a_denial_by_an_nv2_webhook_passes() {
        let nv2 = "admission webhook \"validate.nv2.io\" denied the request: nv2 denied: image x: no signatures";
        assert_eq!(judge(&refused(nv2), ".nv2.io"), Ok(nv2.to_owned()));
        for (answer, why) in [
            (Answer::Created, "admitted"),
            (
                refused("admission webhook \"validate.kyverno.svc\" denied the request: x"),
                "not nv2",
            ),
            (
                refused("admission webhook \"evil.nv2.io.example\" denied the request: x"),
                "not nv2",
            ),
            (
                refused(
                    "pods is forbidden: User \"system:serviceaccount:x:y\" cannot create resource \"pods\"",
                ),
                "not by an admission webhook",
            ),
            (
                refused("x admission webhook \"validate.nv2.io\" denied the request"),
                "not by an admission webhook",
            ),
            (
                refused("admission webhook \"validate.nv2.io\" failed calling webhook"),
                "not by an admission webhook",
            ),
        ] {
            let err = judge(&answer, ".nv2.io").unwrap_err();
            assert!(err.contains(why), "{answer:?}: {err}");
        }
        assert!(judge(&refused(nv2), "").is_err());
    }
}
