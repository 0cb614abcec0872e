//! The admission service: one AdmissionReview in, one answer out. Parses
//! the review, finds its images ([`review::scope`]), gets the workload's
//! credentials, checks every image under the review's deadline
//! ([`Engine::check_with`](super::engine::Engine::check_with)), and turns the
//! outcomes into the answer ([`review::decide`]); logs one line and counts.
//! The HTTP handlers in [`super`] only translate to and from this.

use std::time::Instant;

use futures_util::StreamExt;

use super::decision::{Unverifiable, when_unverifiable};
use super::engine::{Decision, ImageOutcome};
use super::pull_secrets::PullSecretError;
use super::review::{self, AdmissionRequest, ImageField, Scope, allow_json, decide, response_json};
use super::{AppState, IMAGES_IN_FLIGHT, MAX_IMAGES_PER_REVIEW};
use crate::oci::client::Credentials;

/// What the service answers.
pub(super) enum Answer {
    /// The AdmissionReview response (allowed or not).
    Review(serde_json::Value),
    /// Not an AdmissionReview nv2 can read: HTTP 400.
    BadRequest(review::ReviewError),
}

/// Reviews one request body.
pub(super) async fn review(state: &AppState, body: &[u8], mutating: bool) -> Answer {
    let started = Instant::now();
    let req = match review::parse_review(body) {
        Ok(r) => r,
        Err(reason) => {
            tracing::warn!(%reason, "rejected an admission request");
            return Answer::BadRequest(reason);
        }
    };
    let count = |decision: &str| {
        state
            .metrics
            .admission(&req.kind.kind, &req.operation, decision, started.elapsed())
    };
    let (fields, is_pod, controlled, pull_secrets, service_account) = match review::scope(&req) {
        Ok(Scope::Ignore) => {
            count("ignored");
            return Answer::Review(allow_json(&req.uid));
        }
        Ok(Scope::Check {
            images,
            is_pod,
            controlled,
            pull_secrets,
            service_account,
        }) => (images, is_pod, controlled, pull_secrets, service_account),
        Err(reason) => {
            count("denied");
            return Answer::Review(deny_whole_request(&req, reason.to_string()));
        }
    };
    let distinct = match distinct_images(&fields) {
        Ok(d) => d,
        Err(reason) => {
            count("denied");
            return Answer::Review(deny_whole_request(&req, reason));
        }
    };
    let deadline = tokio::time::Instant::from_std(started) + state.deadline;
    let namespace = req.namespace.as_deref().unwrap_or("default");
    let credentials =
        workload_credentials(state, namespace, &pull_secrets, &service_account, deadline).await;
    let outcomes = check_images(state, &distinct, &credentials, namespace, deadline).await;
    // Templates are pinned only where a person writes them: a controller's
    // object (a Deployment's ReplicaSet) would be rewritten at every sync.
    let pin = mutating && (is_pod || (state.pin_templates && !controlled));
    let response = decide(&fields, &outcomes, pin);
    let decision = if !response.allowed {
        "denied"
    } else if !response.warnings.is_empty() {
        "warned"
    } else {
        "allowed"
    };
    log_review(&req, decision, &outcome_lines(&outcomes));
    count(decision);
    Answer::Review(response_json(&req.uid, &response))
}

/// The distinct images of `fields`, or why there are too many to check.
fn distinct_images(fields: &[ImageField]) -> Result<Vec<&str>, String> {
    let mut distinct: Vec<&str> = fields.iter().map(|f| f.image.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() > MAX_IMAGES_PER_REVIEW {
        return Err(format!(
            "the object names {} distinct images; at most {MAX_IMAGES_PER_REVIEW} are verified per request",
            distinct.len()
        ));
    }
    Ok(distinct)
}

/// With workload pull secrets, the workload's credentials layered over the
/// webhook's own (read under the review's deadline); without, none.
async fn workload_credentials(
    state: &AppState,
    namespace: &str,
    pull_secrets: &[String],
    service_account: &str,
    deadline: tokio::time::Instant,
) -> Result<Option<Credentials>, PullSecretError> {
    let Some(reader) = &state.pull_secrets else {
        return Ok(None);
    };
    let read = reader.for_workload(namespace, pull_secrets, service_account);
    match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(configs)) => Ok(Some(state.engine.credentials().layered_under(configs))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(PullSecretError::TimedOut),
    }
}

/// Checks every image, at most [`IMAGES_IN_FLIGHT`] at a time (each may hold
/// several registry connections), every one under the same deadline.
async fn check_images(
    state: &AppState,
    images: &[&str],
    credentials: &Result<Option<Credentials>, PullSecretError>,
    namespace: &str,
    deadline: tokio::time::Instant,
) -> Vec<ImageOutcome> {
    let checks: Vec<_> = images
        .iter()
        .map(|image| async move {
            let unverifiable = |why: Unverifiable| ImageOutcome {
                image: (*image).to_owned(),
                policy: None,
                digest: None,
                decision: when_unverifiable(state.engine.is_audit(image), why),
            };
            let credentials = match credentials {
                Ok(c) => c.as_ref(),
                Err(e) => return unverifiable(e.clone().into()),
            };
            // A place among the namespace's images in verification, then the
            // check: both under the review's deadline.
            let checked = async {
                let _place = state.tenants.place(namespace).await;
                state.engine.check_with(image, credentials).await
            };
            match tokio::time::timeout_at(deadline, checked).await {
                Ok(outcome) => outcome,
                Err(_) => unverifiable(Unverifiable::Deadline(state.deadline)),
            }
        })
        .collect();
    futures_util::stream::iter(checks)
        .buffered(IMAGES_IN_FLIGHT)
        .collect()
        .await
}

/// One line per image for the review's log line.
fn outcome_lines(outcomes: &[ImageOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| {
            let image = crate::text::printable(&o.image);
            match &o.decision {
                Decision::Allow => format!(
                    "{image}: verified {}",
                    o.digest.as_ref().map(|d| d.as_str()).unwrap_or("(skip)")
                ),
                Decision::Warn(r) => format!("{image}: warning: {r}"),
                Decision::Deny(r) => format!("{image}: denied: {r}"),
            }
        })
        .collect()
}

/// Denies a request for a reason that is not one image's (logged).
fn deny_whole_request(req: &AdmissionRequest, reason: String) -> serde_json::Value {
    let r = review::Response {
        allowed: false,
        message: Some(format!("nv2 denied: {reason}")),
        warnings: Vec::new(),
        patch: None,
        audit: Default::default(),
    };
    log_review(req, "denied", std::slice::from_ref(&reason));
    response_json(&req.uid, &r)
}

fn log_review(req: &AdmissionRequest, decision: &str, reasons: &[String]) {
    use crate::oci::digest::{shorten, shorten_to};
    tracing::info!(
        uid = %shorten(&req.uid),
        namespace = %shorten(req.namespace.as_deref().unwrap_or("")),
        name = %shorten(req.name.as_deref().unwrap_or("")),
        kind = %shorten(&req.kind.kind),
        operation = %shorten(&req.operation),
        dry_run = req.dry_run.unwrap_or(false),
        decision,
        images = %shorten_to(&reasons.join(" | "), MAX_LOGGED_REASONS),
        "admission review"
    );
}

/// The most a review's log line says about its images, in bytes: one line
/// per review, whatever registries answered (the full deny message goes to
/// the API server, bounded there too).
const MAX_LOGGED_REASONS: usize = 4096;
