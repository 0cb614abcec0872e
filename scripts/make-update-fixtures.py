#!/usr/bin/env python3
"""Writes the UPDATE AdmissionReview fixtures of tests/data/admission/ from
the CREATE ones (same API-server shape: kind, resource, requestKind,
userInfo, options UpdateOptions, object and oldObject). Run from the
repository root; the output is committed.

    python3 scripts/make-update-fixtures.py
"""
import copy
import json

D = "tests/data/admission/"
SIGNED = "{{REGISTRY}}/hello-world:v1.0"
UNSIGNED = "{{REGISTRY}}/unsigned:v1"


def load(name):
    with open(D + name) as f:
        return json.load(f)


def as_update(review, uid, old, new):
    r = copy.deepcopy(review)
    req = r["request"]
    req["uid"] = uid
    req["operation"] = "UPDATE"
    req["options"] = {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}
    req["oldObject"] = old
    req["object"] = new
    return r


def write(name, review):
    with open(D + name, "w") as f:
        json.dump(review, f, indent=2)
        f.write("\n")


def containers(obj):
    spec = obj["spec"]
    if obj["kind"] == "Pod":
        return spec["containers"]
    return spec["template"]["spec"]["containers"]


deployment = load("deployment-create.json")
dep = deployment["request"]["object"]
dep["metadata"].update({"uid": "5a1c0e0e-0000-4000-8000-000000000001", "generation": 3,
                        "resourceVersion": "4711"})
pod_review = load("pod-update.json")
pod = pod_review["request"]["oldObject"]
pod["metadata"].update({"uid": "5a1c0e0e-0000-4000-8000-000000000002", "resourceVersion": "4712"})
pod["status"] = {"phase": "Running"}

# A ReplicaSet of a Deployment running an image that no longer verifies
# (unsigned here), scaled to zero by its Deployment: allowed, not rewritten.
rs_review = copy.deepcopy(deployment)
req = rs_review["request"]
req["kind"] = {"group": "apps", "version": "v1", "kind": "ReplicaSet"}
req["resource"] = {"group": "apps", "version": "v1", "resource": "replicasets"}
req["requestKind"] = dict(req["kind"])
req["requestResource"] = dict(req["resource"])
req["name"] = "web-7d4b9c8f6"
req["userInfo"] = {"username": "system:serviceaccount:kube-system:deployment-controller",
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                              "system:authenticated"]}
rs = copy.deepcopy(dep)
rs["kind"] = "ReplicaSet"
rs["metadata"]["name"] = "web-7d4b9c8f6"
rs["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                      "uid": dep["metadata"]["uid"], "controller": True,
                                      "blockOwnerDeletion": True}]
del rs["spec"]["strategy"], rs["spec"]["revisionHistoryLimit"], rs["spec"]["progressDeadlineSeconds"]
containers(rs)[0]["image"] = UNSIGNED
scaled = copy.deepcopy(rs)
scaled["spec"]["replicas"] = 0
write("replicaset-scale-down.json",
      as_update(rs_review, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0101", rs, scaled))

# A Deployment running an unsigned image gets a label: allowed.
old = copy.deepcopy(dep)
containers(old)[0]["image"] = UNSIGNED
new = copy.deepcopy(old)
new["metadata"]["labels"] = {"team": "web"}
write("deployment-label-change.json",
      as_update(deployment, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0102", old, new))

# A rollout from the unsigned image to the signed one: allowed (and pinned
# with --pin-templates); the reverse: denied.
old = copy.deepcopy(dep)
containers(old)[0]["image"] = UNSIGNED
new = copy.deepcopy(dep)
new["metadata"]["generation"] = 4
write("deployment-rollout-to-signed.json",
      as_update(deployment, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0103", old, new))
write("deployment-rollout-to-unsigned.json",
      as_update(deployment, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0104", new, old))

# A container added next to an unchanged unsigned one: only the new one is
# checked (signed here: allowed; the test swaps in an unsigned one).
old = copy.deepcopy(dep)
containers(old)[0]["image"] = UNSIGNED
new = copy.deepcopy(old)
sidecar = copy.deepcopy(containers(dep)[0])
sidecar["name"] = "sidecar"
containers(new).append(sidecar)
write("deployment-container-added.json",
      as_update(deployment, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0105", old, new))

# A Pod running an unsigned image, being deleted: its finalizer is removed.
old = copy.deepcopy(pod)
containers(old)[0]["image"] = UNSIGNED
old["metadata"]["finalizers"] = ["example.com/cleanup"]
old["metadata"]["deletionTimestamp"] = "2026-11-28T09:00:00Z"
old["metadata"]["deletionGracePeriodSeconds"] = 0
new = copy.deepcopy(old)
new["metadata"]["finalizers"] = []
write("pod-finalizer-removal.json",
      as_update(pod_review, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0106", old, new))

# A running Pod (unsigned image) gets a label: allowed, never rewritten.
old = copy.deepcopy(pod)
containers(old)[0]["image"] = UNSIGNED
new = copy.deepcopy(old)
new["metadata"]["labels"]["checked"] = "yes"
write("pod-label-change.json",
      as_update(pod_review, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0107", old, new))

# An image volume added to a Deployment's template (its containers unchanged):
# the volume's image is checked.
old = copy.deepcopy(dep)
new = copy.deepcopy(dep)
new["spec"]["template"]["spec"]["volumes"].append(
    {"name": "data", "image": {"reference": UNSIGNED, "pullPolicy": "IfNotPresent"}})
write("deployment-image-volume-added.json",
      as_update(deployment, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0108", old, new))

# An init container's image changed (the containers unchanged).
old = copy.deepcopy(dep)
old["spec"]["template"]["spec"]["initContainers"] = [
    {"name": "init", "image": SIGNED, "imagePullPolicy": "IfNotPresent"}]
new = copy.deepcopy(old)
new["spec"]["template"]["spec"]["initContainers"][0]["image"] = UNSIGNED
write("deployment-init-container-changed.json",
      as_update(deployment, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0109", old, new))

# A request that claims deletion in the new object only (the stored object is
# live) while swapping in an unsigned image: checked like any change.
old = copy.deepcopy(pod)
new = copy.deepcopy(pod)
containers(new)[0]["image"] = UNSIGNED
new["metadata"]["deletionTimestamp"] = "2026-11-28T09:00:00Z"
write("pod-claims-deletion.json",
      as_update(pod_review, "0b6c8f6e-6a3e-4c36-9a38-6f1c1e0a0110", old, new))
