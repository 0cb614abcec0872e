//! Workload pull secrets (`--workload-pull-secrets`): the credentials a pod
//! would pull with — its `imagePullSecrets`, then its service account's —
//! read through the API per request, cached briefly and bounded by bytes.

use kube::Api;

use crate::oci::client::{DockerConfig, DockerConfigError};

/// (namespace, service account, the pod's pull secret names).
type WorkloadKey = (String, String, Vec<String>);

/// A workload's registry credentials, read through the API for the request:
/// the pod spec's `imagePullSecrets`, then its service account's. Answers are
/// cached briefly per (namespace, service account, secret names).
pub struct PullSecrets {
    client: kube::Client,
    cache: crate::cache::TtlCache<WorkloadKey, Configs>,
    ttl: std::time::Duration,
}

/// Pull secrets read for one workload at most (pod's and service account's).
pub(crate) const MAX_PULL_SECRETS: usize = 32;
/// Bytes of parsed pull secrets the cache holds at most: a pod author chooses
/// the secret names, so distinct lists of names must not each keep a copy of
/// a large secret without bound.
pub(crate) const PULL_SECRET_CACHE_BYTES: u64 = 16 << 20;

type Configs = Result<Vec<DockerConfig>, PullSecretError>;

fn weigh(v: &Configs) -> u64 {
    match v {
        Ok(configs) => configs.iter().map(|c| c.approx_size() as u64).sum::<u64>() + 64,
        Err(e) => e.to_string().len() as u64 + 64,
    }
}

impl PullSecrets {
    pub fn new(client: kube::Client, ttl: std::time::Duration) -> Self {
        PullSecrets {
            client,
            cache: crate::cache::TtlCache::weighted(10_000, PULL_SECRET_CACHE_BYTES, weigh),
            ttl,
        }
    }

    /// The Docker configs of the workload's pull secrets, pod's first.
    pub async fn for_workload(
        &self,
        namespace: &str,
        pod_secrets: &[String],
        service_account: &str,
    ) -> Result<Vec<DockerConfig>, PullSecretError> {
        if pod_secrets.len() > MAX_PULL_SECRETS {
            return Err(PullSecretError::TooManyInPod(pod_secrets.len()));
        }
        let key = (
            namespace.to_owned(),
            service_account.to_owned(),
            pod_secrets.to_vec(),
        );
        let ttl = self.ttl;
        self.cache
            .get_or_compute(
                key,
                || read_pull_secrets(&self.client, namespace, pod_secrets, service_account),
                |_| ttl,
            )
            .await
            .0
    }
}

/// Why a workload's pull secrets cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PullSecretError {
    #[error("the pod names {0} imagePullSecrets; at most {MAX_PULL_SECRETS} are read")]
    TooManyInPod(usize),
    #[error(
        "service account {account} and the pod name {count} imagePullSecrets; at most {MAX_PULL_SECRETS} are read"
    )]
    TooMany { account: String, count: usize },
    #[error("cannot read service account {account}: {reason}")]
    ServiceAccount { account: String, reason: String },
    #[error("cannot read pull secret {secret}: {reason}")]
    Unreadable { secret: String, reason: String },
    #[error("pull secret {secret}: {error}")]
    Malformed {
        secret: String,
        error: DockerConfigError,
    },
    #[error("reading the workload's pull secrets did not finish in time")]
    TimedOut,
}

// Over 60 lines: the kubelet's order of pull secrets (pod's, then the service account's), bounded at each step.
async fn read_pull_secrets(
    client: &kube::Client,
    namespace: &str,
    pod_secrets: &[String],
    service_account: &str,
) -> Result<Vec<DockerConfig>, PullSecretError> {
    use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
    let sa_api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let sa =
        sa_api
            .get_opt(service_account)
            .await
            .map_err(|e| PullSecretError::ServiceAccount {
                account: format!("{namespace}/{service_account}"),
                reason: e.to_string(),
            })?;
    let mut names: Vec<String> = pod_secrets.to_vec();
    for s in sa.and_then(|sa| sa.image_pull_secrets).unwrap_or_default() {
        if !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    if names.len() > MAX_PULL_SECRETS {
        return Err(PullSecretError::TooMany {
            account: format!("{namespace}/{service_account}"),
            count: names.len(),
        });
    }
    let secret_api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut configs = Vec::new();
    for name in names {
        // A missing secret is skipped, as the kubelet does.
        let Some(secret) =
            secret_api
                .get_opt(&name)
                .await
                .map_err(|e| PullSecretError::Unreadable {
                    secret: format!("{namespace}/{name}"),
                    reason: e.to_string(),
                })?
        else {
            continue;
        };
        let data = secret.data.unwrap_or_default();
        let config = match secret.type_.as_deref() {
            Some("kubernetes.io/dockerconfigjson") => data
                .get(".dockerconfigjson")
                .map(|b| DockerConfig::from_json(&b.0)),
            Some("kubernetes.io/dockercfg") => data
                .get(".dockercfg")
                .map(|b| DockerConfig::from_dockercfg(&b.0)),
            _ => None,
        };
        match config {
            Some(Ok(c)) => configs.push(c),
            Some(Err(error)) => {
                return Err(PullSecretError::Malformed {
                    secret: format!("{namespace}/{name}"),
                    error,
                });
            }
            None => {}
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod pull_secret_bounds {
    use super::*;

    #[tokio::test]
    async fn too_many_pull_secrets_are_refused_before_any_request() {
        // Nothing listens there: a request would fail differently.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let reader = PullSecrets::new(client, std::time::Duration::from_secs(30));
        let names: Vec<String> = (0..=MAX_PULL_SECRETS).map(|i| format!("s{i}")).collect();
        let err = reader
            .for_workload("ns", &names, "default")
            .await
            .unwrap_err();
        assert_eq!(err, PullSecretError::TooManyInPod(MAX_PULL_SECRETS + 1));
        assert!(err.to_string().contains("at most 32 are read"), "{err}");
    }

    #[test]
    fn the_cache_weighs_configs_by_size() {
        let big = crate::oci::client::DockerConfig::from_json(
            format!(
                r#"{{"auths":{{"r.io":{{"auth":"{}"}}}}}}"#,
                "a".repeat(1 << 20)
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(weigh(&Ok(vec![big])) > 1 << 20);
        assert!(weigh(&Err(PullSecretError::TimedOut)) < 200);
    }
}
