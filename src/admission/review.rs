//! AdmissionReview (admission.k8s.io/v1): parsing the request, finding the
//! images of a Pod or pod template, and writing the response with its
//! JSONPatch. Pure functions; the server wires them to the engine.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admission::engine::{Decision, ImageOutcome};
use crate::oci::reference::Reference;
use crate::text::one_line;

/// The parts of an AdmissionReview request nv2 reads.
#[derive(Debug, Deserialize)]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    #[serde(rename = "subResource", default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub operation: String,
    #[serde(default)]
    pub object: Option<Value>,
    /// The object before an UPDATE (the API server sends it).
    #[serde(rename = "oldObject", default)]
    pub old_object: Option<Value>,
    #[serde(rename = "dryRun", default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
}

#[derive(Deserialize)]
struct Review {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    request: Option<Value>,
}

/// Why a request cannot be reviewed: a malformed review (answered 400) or
/// an object nv2 cannot read (denied). Always one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("malformed AdmissionReview: {0}")]
    Malformed(String),
    #[error("unsupported {api_version}/{kind}: expected admission.k8s.io/v1 AdmissionReview")]
    Unsupported { api_version: String, kind: String },
    #[error("AdmissionReview has no request")]
    NoRequest,
    #[error("malformed AdmissionReview request: {0}")]
    MalformedRequest(String),
    #[error("AdmissionReview request has no uid")]
    NoUid,
    #[error("the request has no object")]
    NoObject,
    #[error("{kind} has no pod spec at {pointer}")]
    NoPodSpec { kind: String, pointer: &'static str },
    /// A field of the object has the wrong JSON type.
    #[error("{pointer} is not {expected}")]
    WrongType {
        pointer: String,
        expected: &'static str,
    },
}

/// Parses an AdmissionReview; every refusal is a one-line reason for a 400.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
    let review: Review =
        serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(one_line(&e)))?;
    if review.api_version != "admission.k8s.io/v1" || review.kind != "AdmissionReview" {
        return Err(ReviewError::Unsupported {
            api_version: crate::oci::digest::shorten(&review.api_version),
            kind: crate::oci::digest::shorten(&review.kind),
        });
    }
    let request = review.request.ok_or(ReviewError::NoRequest)?;
    let request: AdmissionRequest =
        serde_json::from_value(request).map_err(|e| ReviewError::MalformedRequest(one_line(&e)))?;
    if request.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    Ok(request)
}

/// Where the pod spec sits in an object of a kind nv2 checks.
fn pod_spec_pointer(gvk: &GroupVersionKind) -> Option<&'static str> {
    match (gvk.group.as_str(), gvk.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// An image field of the object, with the JSON pointer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageField {
    pub pointer: String,
    pub image: String,
    /// Which entry names it: its list and the entry's name (or, unnamed,
    /// its position) — how an UPDATE matches it with the old object's.
    pub slot: (&'static str, EntryName),
}

/// An entry's `name`, or its position when it has none: the two never
/// compare equal, whatever the name is spelt as.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryName {
    Named(String),
    Unnamed(usize),
}

impl From<&str> for EntryName {
    fn from(name: &str) -> Self {
        EntryName::Named(name.to_owned())
    }
}

impl From<String> for EntryName {
    fn from(name: String) -> Self {
        EntryName::Named(name)
    }
}

/// What a request asks of nv2.
pub enum Scope {
    /// Not nv2's business (other kinds, DELETE, CONNECT): allow untouched.
    Ignore,
    /// Check these images; `is_pod` says whether the object is a Pod.
    Check {
        images: Vec<ImageField>,
        is_pod: bool,
        /// The object has a controller (a ReplicaSet of a Deployment, a Job
        /// of a CronJob): its template is not pinned, its owner's is.
        controlled: bool,
        /// The pod spec's `imagePullSecrets` names.
        pull_secrets: Vec<String>,
        /// The pod spec's service account (`default` when unset).
        service_account: String,
    },
}

/// Every place a pod spec names an image, with the Kubernetes version that
/// added it. A field missing here is an image the webhook never looks at, so
/// a new one must be added here (and in the tests of this module).
///
/// | field | kind of entry | since |
/// |---|---|---|
/// | `containers[].image` | container | 1.0 |
/// | `initContainers[].image` | container | 1.6 (GA 1.8) |
/// | `ephemeralContainers[].image` | container | 1.16 (GA 1.25) |
/// | `volumes[].image.reference` | ImageVolume | 1.31 (beta 1.33) |
const IMAGE_FIELDS: &[(&str, &str)] = &[
    ("initContainers", "/image"),
    ("containers", "/image"),
    ("ephemeralContainers", "/image"),
    ("volumes", "/image/reference"),
];

/// The images of one pod spec (at `pointer` in the object). Something other
/// than a string where an image belongs is an error (deny), never skipped.
fn images_of(spec: &Value, pointer: &str) -> Result<Vec<ImageField>, ReviewError> {
    let mut images = Vec::new();
    for (list, field) in IMAGE_FIELDS {
        let Some(entries) = spec.get(*list) else {
            continue;
        };
        if entries.is_null() {
            continue;
        }
        let entries = entries.as_array().ok_or_else(|| ReviewError::WrongType {
            pointer: format!("{pointer}/{list}"),
            expected: "a list",
        })?;
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{pointer}/{list}/{i}{field}");
            let name = match entry.get("name") {
                Some(Value::String(name)) => EntryName::Named(name.clone()),
                _ => EntryName::Unnamed(i),
            };
            match entry.pointer(field) {
                Some(Value::String(image)) => images.push(ImageField {
                    pointer: at,
                    image: image.clone(),
                    slot: (list, name),
                }),
                // A container without an image, or a volume of another kind,
                // names none (the API server refuses a container without one).
                None | Some(Value::Null) => {
                    if *list == "volumes"
                        && entry
                            .get("image")
                            .is_some_and(|v| !v.is_null() && !v.is_object())
                    {
                        return Err(ReviewError::WrongType {
                            pointer: format!("{pointer}/{list}/{i}/image"),
                            expected: "an object",
                        });
                    }
                }
                Some(_) => {
                    return Err(ReviewError::WrongType {
                        pointer: at,
                        expected: "a string",
                    });
                }
            }
        }
    }
    Ok(images)
}

/// The images a request brings, by kind and operation. On UPDATE only the
/// images that are new or changed compared with `oldObject` (same list, same
/// entry name) are checked: what already ran was admitted then, and a
/// ReplicaSet scaling down, a rollout away from a bad image or a finalizer
/// removal must not depend on it verifying today; an object being deleted
/// passes. What runs unverified is the audit's business.
pub fn scope(req: &AdmissionRequest) -> Result<Scope, ReviewError> {
    if !matches!(req.operation.as_str(), "CREATE" | "UPDATE") {
        return Ok(Scope::Ignore);
    }
    let Some(pointer) = pod_spec_pointer(&req.kind) else {
        return Ok(Scope::Ignore);
    };
    let object = req.object.as_ref().ok_or(ReviewError::NoObject)?;
    let update = req.operation == "UPDATE";
    // Being deleted is read from the stored object (`oldObject`): the API
    // server keeps `deletionTimestamp` immutable once set, so a request
    // cannot claim it; and only a time (a non-empty string) counts.
    let being_deleted = req
        .old_object
        .as_ref()
        .and_then(|old| old.pointer("/metadata/deletionTimestamp"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if update && being_deleted {
        return Ok(Scope::Ignore);
    }
    let spec = object
        .pointer(pointer)
        .ok_or_else(|| ReviewError::NoPodSpec {
            kind: crate::oci::digest::shorten(&req.kind.kind),
            pointer,
        })?;
    let mut images = images_of(spec, pointer)?;
    if update {
        let unchanged = unchanged_images(req.old_object.as_ref(), pointer);
        images.retain(|f| unchanged.get(&f.slot).and_then(Option::as_deref) != Some(&f.image));
    }
    // On the ephemeralcontainers subresource only the new containers are admitted.
    if req.sub_resource.as_deref() == Some("ephemeralcontainers") {
        images.retain(|f| f.pointer.contains("/ephemeralContainers/"));
    }
    let controlled = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| o.get("controller") == Some(&Value::Bool(true)))
        });
    let pull_secrets = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let service_account = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_owned();
    Ok(Scope::Check {
        images,
        is_pod: req.kind.kind == "Pod",
        controlled,
        pull_secrets,
        service_account,
    })
}

/// The old object's images by slot; a slot named twice maps to `None` (it
/// matches nothing), and an old object that cannot be read has none, so
/// every image is checked.
fn unchanged_images(
    old: Option<&Value>,
    pointer: &str,
) -> std::collections::HashMap<(&'static str, EntryName), Option<String>> {
    let mut by_slot = std::collections::HashMap::new();
    let fields = old
        .and_then(|o| o.pointer(pointer))
        .and_then(|spec| images_of(spec, pointer).ok())
        .unwrap_or_default();
    for f in fields {
        by_slot
            .entry(f.slot)
            .and_modify(|seen: &mut Option<String>| *seen = None)
            .or_insert(Some(f.image));
    }
    by_slot
}

/// The most a deny message may take, in bytes (every image's reason is
/// already bounded; this bounds a request naming many images).
pub(crate) const MAX_RESPONSE_MESSAGE: usize = 16 << 10;
/// At most this many warnings, each at most [`MAX_WARNING`] bytes.
pub(crate) const MAX_WARNINGS: usize = 16;
pub(crate) const MAX_WARNING: usize = 1024;

/// The decision for a whole request.
pub(crate) struct Response {
    pub allowed: bool,
    pub message: Option<String>,
    pub warnings: Vec<String>,
    pub patch: Option<Vec<Value>>,
    pub audit: BTreeMap<String, String>,
}

/// Combines per-image outcomes: deny when any image is denied (listing each
/// with its reason), warn for warnings, and with `pin` a JSONPatch pinning
/// every verified image to its digest.
pub(crate) fn decide(fields: &[ImageField], outcomes: &[ImageOutcome], pin: bool) -> Response {
    let mut denied = Vec::new();
    let mut warnings = Vec::new();
    let mut verified = Vec::new();
    for o in outcomes {
        match &o.decision {
            Decision::Deny(reason) => denied.push(format!(
                "image {}: {reason}",
                crate::text::printable(&o.image)
            )),
            Decision::Warn(reason) => warnings.push(format!(
                "image {}: {reason}",
                crate::text::printable(&o.image)
            )),
            Decision::Allow => {
                if let Some(d) = &o.digest {
                    verified.push(verified_name(&o.image, d));
                }
            }
        }
    }
    let allowed = denied.is_empty();
    let warnings: Vec<String> = warnings
        .into_iter()
        .take(MAX_WARNINGS)
        .map(|w| crate::oci::digest::shorten_to(&w, MAX_WARNING))
        .collect();
    let patch = (allowed && pin)
        .then(|| {
            fields
                .iter()
                .filter_map(|f| {
                    let outcome = outcomes.iter().find(|o| o.image == f.image)?;
                    let digest = outcome.pinnable()?;
                    pinned(&f.image, digest)
                        .map(|value| json!({"op": "replace", "path": f.pointer, "value": value}))
                })
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty());
    let mut audit = BTreeMap::new();
    if !verified.is_empty() {
        audit.insert("verified-images".to_owned(), verified.join(","));
    }
    Response {
        allowed,
        message: (!allowed).then(|| {
            crate::oci::digest::shorten_to(
                &format!("nv2 denied: {}", denied.join("; ")),
                MAX_RESPONSE_MESSAGE,
            )
        }),
        warnings,
        patch,
        audit,
    }
}

/// The image pinned to `digest`, in the canonical spelling of the registry
/// and repository that were verified (`localhost:05000/a:v1` →
/// `localhost:5000/a:v1@sha256:…`), so the kubelet pulls from exactly what
/// was checked; an image already pinned is left alone.
fn pinned(image: &str, digest: &crate::oci::digest::Digest) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    let reference = Reference::parse(image).ok()?;
    match crate::oci::reference::written_registry(image) {
        // On Docker Hub without a registry, or written canonically: keep
        // the user's spelling.
        None => return Some(format!("{image}@{digest}")),
        Some(host) if host == reference.registry() => {
            return Some(format!("{image}@{digest}"));
        }
        Some(_) => {}
    }
    Some(reference.with_digest(digest.clone()).to_string())
}

/// `registry/repository@sha256:…` for the audit annotation: one digest,
/// whether or not the image was already pinned.
fn verified_name(image: &str, digest: &crate::oci::digest::Digest) -> String {
    match Reference::parse(image) {
        Ok(r) => r.by_digest(digest.clone()).to_string(),
        Err(_) => format!("{image}@{digest}"),
    }
}

/// The AdmissionReview response JSON; `patch` as the base64 string the API server expects.
pub(crate) fn response_json(uid: &str, r: &Response) -> Value {
    let mut resp = json!({"uid": uid, "allowed": r.allowed});
    if let Some(m) = &r.message {
        resp["status"] = json!({"code": 403, "reason": "Forbidden", "message": m});
    }
    if !r.warnings.is_empty() {
        resp["warnings"] = json!(r.warnings);
    }
    if let Some(p) = &r.patch {
        let bytes = serde_json::to_vec(p).unwrap_or_default();
        resp["patchType"] = json!("JSONPatch");
        resp["patch"] = json!(B64.encode(bytes));
    }
    if !r.audit.is_empty() {
        resp["auditAnnotations"] = json!(r.audit);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
}

/// An allow with nothing to say.
pub(crate) fn allow_json(uid: &str) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, "allowed": true}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(kind: &str, group: &str, object: Value) -> AdmissionRequest {
        parse_review(
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                "uid": "u1", "kind": {"group": group, "version": "v1", "kind": kind}, "operation": "CREATE", "object": object}})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn finds_images_in_every_kind() {
        let spec = json!({"initContainers": [{"name": "i", "image": "busybox"}], "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "r.io/x@sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55"}], "ephemeralContainers": [{"name": "e", "image": "debug"}]});
        let cases = [
            ("Pod", "", json!({"spec": spec}), "/spec"),
            (
                "Deployment",
                "apps",
                json!({"spec": {"template": {"spec": spec}}}),
                "/spec/template/spec",
            ),
            (
                "CronJob",
                "batch",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
                "/spec/jobTemplate/spec/template/spec",
            ),
            (
                "ReplicationController",
                "",
                json!({"spec": {"template": {"spec": spec}}}),
                "/spec/template/spec",
            ),
        ];
        for (kind, group, obj, base) in cases {
            let Scope::Check {
                images,
                is_pod,
                service_account,
                ..
            } = scope(&review(kind, group, obj)).unwrap()
            else {
                panic!("{kind} ignored")
            };
            assert_eq!(service_account, "default");
            assert_eq!(is_pod, kind == "Pod");
            assert_eq!(images.len(), 4, "{kind}");
            assert_eq!(images[0].pointer, format!("{base}/initContainers/0/image"));
            assert_eq!(
                images[2].image,
                "r.io/x@sha256:3351c53952446db17d21b86cfe5829ae70f823aff5d410fbf09dff820a39ab55"
            );
            assert_eq!(
                images[3].pointer,
                format!("{base}/ephemeralContainers/0/image")
            );
        }
        assert!(matches!(
            scope(&review("Service", "", json!({}))).unwrap(),
            Scope::Ignore
        ));
        assert!(matches!(
            scope(&review("Deployment", "example.com", json!({}))).unwrap(),
            Scope::Ignore
        ));
    }

    #[test]
    fn rejects_bad_reviews() {
        for (body, needle) in [
            ("{", "malformed"),
            (
                r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
                "unsupported",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
                "no request",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE"}}"#,
                "no uid",
            ),
        ] {
            let err = parse_review(body.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn pins_only_verified_unpinned_images() {
        let d = crate::oci::digest::Digest::of(b"x");
        let fields = vec![
            ImageField {
                pointer: "/spec/containers/0/image".into(),
                image: "nginx:1".into(),
                slot: ("containers", "a".into()),
            },
            ImageField {
                pointer: "/spec/containers/1/image".into(),
                image: format!("r.io/a@{d}"),
                slot: ("containers", "b".into()),
            },
        ];
        let outcomes = vec![
            ImageOutcome {
                image: "nginx:1".into(),
                policy: None,
                digest: Some(d.clone()),
                decision: Decision::Allow,
            },
            ImageOutcome {
                image: format!("r.io/a@{d}"),
                policy: None,
                digest: Some(d.clone()),
                decision: Decision::Allow,
            },
        ];
        let r = decide(&fields, &outcomes, true);
        assert!(r.allowed);
        let patch = r.patch.unwrap();
        assert_eq!(
            patch,
            vec![
                json!({"op": "replace", "path": "/spec/containers/0/image", "value": format!("nginx:1@{d}")})
            ]
        );
        let r = decide(&fields, &outcomes, false);
        assert!(r.patch.is_none());
        let mut denied = outcomes.clone();
        denied[1].decision = Decision::Deny("no signatures".into());
        let r = decide(&fields, &denied, true);
        assert!(!r.allowed && r.patch.is_none());
        assert!(
            r.message
                .unwrap()
                .contains(&format!("image r.io/a@{d}: no signatures"))
        );
    }

    #[test]
    fn image_volumes_are_images_too() {
        let spec = json!({
            "containers": [{"name": "a", "image": "r.io/signed:1"}],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "x"}},
                {"name": "data", "image": {"reference": "r.io/unsigned:1", "pullPolicy": "Always"}},
                {"name": "empty", "image": null}
            ]
        });
        for (kind, group, obj, base) in [
            ("Pod", "", json!({"spec": spec}), "/spec"),
            (
                "CronJob",
                "batch",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
                "/spec/jobTemplate/spec/template/spec",
            ),
        ] {
            let Scope::Check { images, .. } = scope(&review(kind, group, obj)).unwrap() else {
                panic!("{kind} ignored")
            };
            assert_eq!(
                images.last(),
                Some(&ImageField {
                    pointer: format!("{base}/volumes/1/image/reference"),
                    image: "r.io/unsigned:1".into(),
                    slot: ("volumes", "data".into()),
                })
            );
            assert_eq!(images.len(), 2);
        }
        for bad in [
            json!({"spec": {"volumes": [{"name": "v", "image": {"reference": 7}}]}}),
            json!({"spec": {"volumes": [{"name": "v", "image": "r.io/x:1"}]}}),
            json!({"spec": {"volumes": {"name": "v"}}}),
        ] {
            assert!(scope(&review("Pod", "", bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn pins_in_the_verified_spelling_and_annotates_one_digest() {
        let d = crate::oci::digest::Digest::of(b"x");
        let allow = |image: &str| ImageOutcome {
            image: image.into(),
            policy: None,
            digest: Some(d.clone()),
            decision: Decision::Allow,
        };
        let images = [
            "LOCALHOST:05000/a:v1",
            "localhost:5000/b:v1",
            "nginx",
            "r.io/pinned:v1",
        ];
        let pinned_image = format!("r.io/pinned:v1@{d}");
        let fields: Vec<ImageField> = images
            .iter()
            .enumerate()
            .map(|(i, image)| ImageField {
                slot: ("containers", format!("c{i}").into()),
                pointer: format!("/spec/containers/{i}/image"),
                image: if i == 3 {
                    pinned_image.clone()
                } else {
                    (*image).to_owned()
                },
            })
            .collect();
        let outcomes: Vec<ImageOutcome> = fields.iter().map(|f| allow(&f.image)).collect();
        let r = decide(&fields, &outcomes, true);
        let values: Vec<String> = r
            .patch
            .unwrap()
            .iter()
            .map(|p| p["value"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            values,
            vec![
                format!("localhost:5000/a:v1@{d}"),
                format!("localhost:5000/b:v1@{d}"),
                format!("nginx@{d}"),
            ]
        );
        let annotation = &r.audit["verified-images"];
        assert!(
            annotation.contains(&format!("r.io/pinned@{d}")),
            "{annotation}"
        );
        assert!(!annotation.contains(&format!("{d}@{d}")), "{annotation}");
        assert_eq!(annotation.matches("sha256:").count(), 4);
    }

    fn update(kind: &str, group: &str, old: Option<Value>, object: Value) -> AdmissionRequest {
        let mut request = json!({"uid": "u1", "kind": {"group": group, "version": "v1", "kind": kind},
            "operation": "UPDATE", "object": object});
        if let Some(old) = old {
            request["oldObject"] = old;
        }
        parse_review(
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    fn checked(req: &AdmissionRequest) -> Option<Vec<String>> {
        match scope(req).unwrap() {
            Scope::Ignore => None,
            Scope::Check { images, .. } => Some(images.into_iter().map(|f| f.pointer).collect()),
        }
    }

    fn deployment(containers: Value, extra: Value) -> Value {
        let mut d = json!({"metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": containers}}}});
        if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                d.insert(k.clone(), v.clone());
            }
        }
        d
    }

    #[test]
    fn an_update_checks_only_new_or_changed_images() {
        let base = json!([{"name": "a", "image": "r.io/a:1"}, {"name": "b", "image": "r.io/b:1"}]);
        let old = deployment(base.clone(), json!({}));
        let none: Option<Vec<String>> = Some(vec![]);
        // Scale, label change, finalizer removal: no image is checked.
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(0);
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), scaled)),
            none
        );
        let mut labelled = old.clone();
        labelled["metadata"]["labels"]["tier"] = json!("front");
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), labelled)),
            none
        );
        let mut finalized = old.clone();
        finalized["metadata"]["finalizers"] = json!([]);
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), finalized)),
            none
        );
        // An image changed, a container added, a container renamed, an image
        // moved to another container: those (and only those) are checked.
        let changed = deployment(
            json!([{"name": "a", "image": "r.io/a:2"}, {"name": "b", "image": "r.io/b:1"}]),
            json!({}),
        );
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), changed)),
            Some(vec!["/spec/template/spec/containers/0/image".to_owned()])
        );
        let added = deployment(
            json!([{"name": "a", "image": "r.io/a:1"}, {"name": "b", "image": "r.io/b:1"}, {"name": "c", "image": "r.io/c:1"}]),
            json!({}),
        );
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), added)),
            Some(vec!["/spec/template/spec/containers/2/image".to_owned()])
        );
        let swapped = deployment(
            json!([{"name": "a", "image": "r.io/b:1"}, {"name": "b", "image": "r.io/a:1"}]),
            json!({}),
        );
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), swapped)).map(|v| v.len()),
            Some(2)
        );
        let renamed = deployment(
            json!([{"name": "z", "image": "r.io/a:1"}, {"name": "b", "image": "r.io/b:1"}]),
            json!({}),
        );
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), renamed)),
            Some(vec!["/spec/template/spec/containers/0/image".to_owned()])
        );
        // Same name, other kind of entry: an init container is not the container.
        let moved = json!({"metadata": {}, "spec": {"template": {"spec": {
            "initContainers": [{"name": "a", "image": "r.io/a:1"}],
            "containers": [{"name": "b", "image": "r.io/b:1"}]}}}});
        assert_eq!(
            checked(&update("Deployment", "apps", Some(old.clone()), moved)),
            Some(vec![
                "/spec/template/spec/initContainers/0/image".to_owned()
            ])
        );
    }

    #[test]
    fn an_update_without_a_readable_old_object_checks_everything() {
        let object = deployment(json!([{"name": "a", "image": "r.io/a:1"}]), json!({}));
        let all = Some(vec!["/spec/template/spec/containers/0/image".to_owned()]);
        assert_eq!(
            checked(&update("Deployment", "apps", None, object.clone())),
            all
        );
        let unreadable = json!({"spec": {"template": {"spec": {"containers": "nope"}}}});
        assert_eq!(
            checked(&update(
                "Deployment",
                "apps",
                Some(unreadable),
                object.clone()
            )),
            all
        );
        // A name listed twice in the old object matches nothing.
        let doubled = deployment(
            json!([{"name": "a", "image": "r.io/a:1"}, {"name": "a", "image": "r.io/a:1"}]),
            json!({}),
        );
        assert_eq!(
            checked(&update("Deployment", "apps", Some(doubled), object)),
            all
        );
    }

    #[test]
    fn an_object_being_deleted_passes_an_update_but_not_a_create() {
        let mut old = deployment(json!([{"name": "a", "image": "r.io/a:1"}]), json!({}));
        old["metadata"]["deletionTimestamp"] = json!("2026-11-29T00:00:00Z");
        let mut deleting = deployment(json!([{"name": "a", "image": "r.io/evil:1"}]), json!({}));
        deleting["metadata"]["deletionTimestamp"] = json!("2026-11-29T00:00:00Z");
        deleting["metadata"]["finalizers"] = json!([]);
        assert_eq!(
            checked(&update(
                "Deployment",
                "apps",
                Some(old.clone()),
                deleting.clone()
            )),
            None
        );
        let evil = Some(vec!["/spec/template/spec/containers/0/image".to_owned()]);
        assert_eq!(
            checked(&review("Deployment", "apps", deleting.clone())),
            evil
        );
        // Claimed by the new object only, or not a time: checked as usual.
        // (Found by attacking the binary.)
        let live = deployment(json!([{"name": "a", "image": "r.io/a:1"}]), json!({}));
        assert_eq!(
            checked(&update("Deployment", "apps", Some(live), deleting.clone())),
            evil
        );
        for not_a_time in [json!(""), json!(0), json!(true), json!({}), json!(null)] {
            let mut odd = old.clone();
            odd["metadata"]["deletionTimestamp"] = not_a_time.clone();
            assert_eq!(
                checked(&update("Deployment", "apps", Some(odd), deleting.clone())),
                evil,
                "{not_a_time}"
            );
        }
    }

    #[test]
    fn a_new_ephemeral_container_is_checked_on_update() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "r.io/a:1"}]}});
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "r.io/debug:1"}]);
        assert_eq!(
            checked(&update("Pod", "", Some(old), new)),
            Some(vec!["/spec/ephemeralContainers/0/image".to_owned()])
        );
    }

    #[test]
    fn a_controller_owned_object_is_marked_controlled() {
        let owned = |controller: bool| {
            deployment(
                json!([{"name": "a", "image": "r.io/a:1"}]),
                json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": "web", "uid": "x", "controller": controller}]}}),
            )
        };
        for (object, want) in [
            (owned(true), true),
            (owned(false), false),
            (deployment(json!([]), json!({})), false),
        ] {
            let Scope::Check { controlled, .. } =
                scope(&review("ReplicaSet", "apps", object)).unwrap()
            else {
                panic!("not checked");
            };
            assert_eq!(controlled, want);
        }
    }

    #[test]
    fn an_image_name_cannot_break_the_deny_message() {
        let image = "r.io/a:1\nnv2: allowed\u{1b}[31m".to_owned();
        let outcomes = vec![ImageOutcome {
            image: image.clone(),
            policy: None,
            digest: None,
            decision: Decision::Deny("invalid image reference".into()),
        }];
        let fields = vec![ImageField {
            pointer: "/spec/containers/0/image".into(),
            image,
            slot: ("containers", "a".into()),
        }];
        let r = decide(&fields, &outcomes, false);
        let message = r.message.unwrap();
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.contains("r.io/a:1\\u{a}nv2"), "{message}");
    }

    #[test]
    fn an_entry_named_like_a_position_is_not_that_position() {
        let unnamed = deployment(json!([{"image": "r.io/a:1"}]), json!({}));
        let named = deployment(json!([{"name": "#0", "image": "r.io/a:1"}]), json!({}));
        assert_eq!(
            checked(&update("Deployment", "apps", Some(unnamed), named)),
            Some(vec!["/spec/template/spec/containers/0/image".to_owned()])
        );
    }
}
