#!/usr/bin/env python3
"""API-server rules and nv2's own interface, checked on one rendered chart.

kubernetes-validate checks each object against the OpenAPI schema of its kind;
this checks what those schemas leave out: the enums and ranges the API server
enforces on admission webhooks, the references between objects (webhook ->
Service -> Deployment port, RoleBinding -> ServiceAccount, trust policy ->
trust-store ConfigMaps, Certificate -> Secret), the binary's fixed interface
(args, port, probes, paths), the security context, the TLS material, the
kinds that kubernetes-validate has no schema for (cert-manager, Prometheus
operator: validated here against hand-written schemas, and any other unknown
kind is an error), and agreement with the Dockerfile (user, entrypoint).

Usage:
  check_chart_rules.py --namespace NS --values VALUES.yaml [--values ...]
      [--dockerfile Dockerfile] [--ca-bundle-placeholder STR]
      [--rules-out FILE] RENDER.yaml [RENDER.yaml ...]

The renders are taken together as one installation. --values are the chart's
values.yaml and the overrides the render was made with (merged like Helm
does), so that the conditional parts are checked against what was asked.
Needs PyYAML, jsonschema and cryptography (the venv of check-chart.sh).
"""

import argparse
import base64
import binascii
import datetime
import json
import re
import shlex
import sys

import glob
import os

import celpy
import jsonschema
import promql_parser
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

BINARY = "/usr/local/bin/nv2"
PORT_NAME = "https"
CONTAINER_PORT = 8443
TLS_DIR = "/etc/nv2/tls"
DOCKER_CONFIG = "/etc/nv2/docker/config.json"
TRUST_POLICY_LABEL = "nv2.io/trust-policy"
TRUST_STORE_LABEL = "nv2.io/trust-store"
IGNORE_LABEL = "nv2.io/ignore"
PIN_LABEL = "nv2.io/pin-digests"
# Opt-out of digest pinning, on the mutating webhook only: the binary never
# sees namespace labels, so a namespace labelled nv2.io/pin-digests=false is
# still verified (validating webhook) but never sent to /mutate.
PIN_OPT_OUT = {"key": PIN_LABEL, "operator": "NotIn", "values": ["false"]}
NAME_LABEL = "kubernetes.io/metadata.name"
INJECT_ANNOTATION = "cert-manager.io/inject-ca-from"

# What the webhooks must intercept (DESIGN §6), as (group, resource).
EXPECTED_RESOURCES = {
    ("", "pods"), ("", "pods/ephemeralcontainers"), ("", "replicationcontrollers"),
    ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
    ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"),
}
EXPECTED_OPERATIONS = {"CREATE", "UPDATE"}
KIND_OF_RESOURCE = {
    "pods": "Pod", "replicationcontrollers": "ReplicationController",
    "deployments": "Deployment", "replicasets": "ReplicaSet",
    "statefulsets": "StatefulSet", "daemonsets": "DaemonSet",
    "jobs": "Job", "cronjobs": "CronJob",
}

# Kinds with a schema in kubernetes-validate (checked there, strictly).
BUILTIN_KINDS = {
    ("v1", "Namespace"), ("v1", "ServiceAccount"), ("v1", "Secret"),
    ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}

# Hand-written schemas for the custom kinds the chart may render: the fields
# the chart uses, strictly (additionalProperties false), after cert-manager
# v1 and prometheus-operator monitoring.coreos.com/v1.
_STR = {"type": "string", "minLength": 1}
_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {
    "type": "object", "additionalProperties": False, "required": ["name", "namespace"],
    "properties": {"name": _STR, "namespace": _STR, "labels": _LABELS, "annotations": _LABELS},
}
_ISSUER_REF = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {"name": _STR, "kind": {"enum": ["Issuer", "ClusterIssuer"]},
                   "group": {"const": "cert-manager.io"}},
}


def _kind_schema(api_version, kind, spec):
    return {
        "type": "object", "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": api_version}, "kind": {"const": kind},
                       "metadata": _META, "spec": spec},
    }


CRD_SCHEMAS = {
    ("cert-manager.io/v1", "Issuer"): _kind_schema("cert-manager.io/v1", "Issuer", {
        "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
        "properties": {
            "selfSigned": {"type": "object", "additionalProperties": False,
                           "properties": {"crlDistributionPoints": {"type": "array"}}},
            "ca": {"type": "object", "additionalProperties": False, "required": ["secretName"],
                   "properties": {"secretName": _STR}},
        },
    }),
    ("cert-manager.io/v1", "Certificate"): _kind_schema("cert-manager.io/v1", "Certificate", {
        "type": "object", "additionalProperties": False,
        "required": ["secretName", "issuerRef"],
        "properties": {
            "secretName": _STR, "issuerRef": _ISSUER_REF, "isCA": {"type": "boolean"},
            "commonName": {"type": "string", "maxLength": 64},
            "dnsNames": {"type": "array", "items": _STR, "minItems": 1},
            "duration": _DURATION, "renewBefore": _DURATION,
            "usages": {"type": "array", "items": {"enum": [
                "signing", "digital signature", "content commitment", "key encipherment",
                "key agreement", "data encipherment", "cert sign", "crl sign",
                "encipher only", "decipher only", "any", "server auth", "client auth",
                "code signing", "email protection", "s/mime", "ipsec end system",
                "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
                "microsoft sgc", "netscape sgc"]}},
            "privateKey": {"type": "object", "additionalProperties": False, "properties": {
                "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                "size": {"type": "integer"},
                "encoding": {"enum": ["PKCS1", "PKCS8"]},
                "rotationPolicy": {"enum": ["Never", "Always"]}}},
        },
    }),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _kind_schema(
        "monitoring.coreos.com/v1", "ServiceMonitor", {
            "type": "object", "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "namespaceSelector": {"type": "object", "additionalProperties": False, "properties": {
                    "any": {"type": "boolean"}, "matchNames": {"type": "array", "items": _STR}}},
                "selector": {"type": "object", "additionalProperties": False, "properties": {
                    "matchLabels": _LABELS, "matchExpressions": {"type": "array"}}},
                "endpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "properties": {
                        "port": _STR, "path": {"type": "string", "pattern": "^/"},
                        "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                        "interval": _DURATION, "scrapeTimeout": _DURATION,
                        "tlsConfig": {"type": "object", "additionalProperties": False, "properties": {
                            "serverName": _STR, "insecureSkipVerify": {"type": "boolean"},
                            "ca": {"type": "object"}, "cert": {"type": "object"},
                            "keySecret": {"type": "object"}}}}}},
            },
        }),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _kind_schema(
        "monitoring.coreos.com/v1", "PrometheusRule", {
            "type": "object", "additionalProperties": False, "required": ["groups"],
            "properties": {"groups": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "rules"],
                "properties": {"name": _STR, "interval": _DURATION, "rules": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["alert", "expr"],
                    "properties": {"alert": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                                   "expr": _STR, "for": _DURATION,
                                   "labels": _LABELS, "annotations": _LABELS}}}}}}},
        }),
}


class Checker:
    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, cond, msg):
        self.count += 1
        if not cond:
            self.failures.append(msg)
        return bool(cond)


def merge(base, over):
    """Helm's values merge: maps merge recursively, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


def load_values(paths):
    values = {}
    for p in paths:
        with open(p) as f:
            values = merge(values, yaml.safe_load(f) or {})
    return values


def load_docs(paths):
    docs = []
    for p in paths:
        with open(p) as f:
            for d in yaml.safe_load_all(f):
                if d:
                    docs.append(d)
    return docs


def parse_dockerfile(path):
    """USER, ENTRYPOINT, CMD and COPY destinations of the final stage."""
    text = open(path).read()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages.append({"from": rest.strip(), "user": None, "entrypoint": None,
                           "cmd": None, "copies": []})
        elif not stages:
            continue
        elif word == "USER":
            stages[-1]["user"] = rest.strip()
        elif word in ("ENTRYPOINT", "CMD"):
            rest = rest.strip()
            try:
                value = json.loads(rest)
            except json.JSONDecodeError:
                value = ["/bin/sh", "-c", rest]  # shell form
            stages[-1][word.lower()] = value
        elif word == "COPY":
            args = [a for a in shlex.split(rest) if not a.startswith("--")]
            stages[-1]["copies"].append(args[-1] if args else "")
    if not stages:
        raise SystemExit(f"{path}: no FROM")
    return stages[-1]


def b64(s):
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


def pem_certs(data):
    """Certificates of a PEM bundle (bytes); None when any block is bad."""
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----\s+(.*?)-----END CERTIFICATE-----", data, re.S)
    if not blocks:
        return None
    try:
        return [x509.load_pem_x509_certificate(
            b"-----BEGIN CERTIFICATE-----\n" + b + b"-----END CERTIFICATE-----\n") for b in blocks]
    except ValueError:
        return None


def selector_matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def duration_seconds(s):
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", s or "")
    if not parts or "".join(a + b for a, b in parts) != s:
        return None
    return sum(float(a) * units[b] for a, b in parts)


def version_at_least(version, floor):
    """Whether Kubernetes `version` (1.30.0, v1.30.0) is at least `floor` (1, 30)."""
    parts = re.match(r"v?(\d+)\.(\d+)", version or "")
    return bool(parts) and (int(parts.group(1)), int(parts.group(2))) >= floor


# For each UPDATE fixture of tests/data/admission, whether the API server must
# still call nv2 (an image field new or changed) — nv2 allows the others
# without looking, so matchConditions may skip them. CREATE fixtures: always.
MUST_CALL = {
    "replicaset-scale-down.json": False,
    "deployment-label-change.json": False,
    "pod-finalizer-removal.json": False,
    "pod-label-change.json": False,
    "deployment-rollout-to-signed.json": True,
    "deployment-rollout-to-unsigned.json": True,
    "deployment-container-added.json": True,
    "pod-update.json": True,
    "pod-ephemeralcontainers.json": True,
    "deployment-image-volume-added.json": True,
    "deployment-init-container-changed.json": True,
    "pod-claims-deletion.json": True,
}


def check_match_conditions(c, w, conditions, fixtures_dir):
    """Compiles every matchCondition with a CEL implementation and evaluates
    them on the API-server-shaped fixtures: nv2 is called for every CREATE and
    every UPDATE that brings a new or changed image, and skipped otherwise."""
    env = celpy.Environment()
    programs = []
    for mc in conditions:
        try:
            programs.append((mc["name"], env.program(env.compile(mc["expression"]))))
        except Exception as e:  # noqa: BLE001 - any compile error is a finding
            c.check(False, f"{w}: matchCondition {mc.get('name')}: does not compile: {e}")
    names = [mc.get("name") for mc in conditions]
    c.check(len(names) == len(set(names)) and all(re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", n or "")
                                                  for n in names), f"{w}: matchCondition names {names}")
    seen = 0
    for path in sorted(glob.glob(os.path.join(fixtures_dir, "*.json"))):
        name = os.path.basename(path)
        with open(path) as f:
            req = json.load(f)["request"]
        if req.get("kind", {}).get("kind") not in KIND_OF_RESOURCE.values():
            continue
        want = MUST_CALL.get(name, req["operation"] == "CREATE")
        if req["operation"] not in ("CREATE", "UPDATE") or (req["operation"] == "UPDATE" and name not in MUST_CALL):
            continue
        activation = {"request": celpy.json_to_cel(req),
                      "object": celpy.json_to_cel(req.get("object")),
                      "oldObject": celpy.json_to_cel(req.get("oldObject"))}
        got = True
        for mc_name, prog in programs:
            try:
                value = prog.evaluate(activation)
            except Exception as e:  # noqa: BLE001
                c.check(False, f"{w}: matchCondition {mc_name} fails on {name}: {e}")
                value = True
            c.check(isinstance(value, celpy.celtypes.BoolType), f"{w}: {mc_name} on {name} is not a bool: {value!r}")
            got = got and bool(value)
        c.check(got == want, f"{w}: on {name} the API server would {'call' if got else 'skip'} nv2; "
                             f"it must {'call' if want else 'skip'} it")
        seen += 1
    c.check(seen >= len(MUST_CALL), f"{w}: only {seen} admission fixtures evaluated in {fixtures_dir}")


# Metrics the chart's alerts and dashboard may use besides nv2's own.
FOREIGN_METRICS = {"kube_deployment_status_replicas_ready"}
NV2_SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def promql_metrics(c, where, expr):
    """Parses `expr` (Grafana variables replaced) and returns the metric
    names it reads; a parse error is a finding."""
    concrete = (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
                .replace("$namespace", "nv2-system"))
    try:
        promql_parser.parse(concrete)
    except Exception as e:  # noqa: BLE001 - any parse error is a finding
        c.check(False, f"{where}: PromQL does not parse: {e}: {concrete}")
        return set()
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*\{", concrete))
    names -= {"by", "without", "on", "ignoring", "group_left", "group_right"}
    for n in names:
        c.check(n.startswith("nv2_") or n in FOREIGN_METRICS, f"{where}: unknown metric {n}")
    return {n for n in names if n.startswith("nv2_")}


def run(args):
    c = Checker()
    kube = args.kube_version
    metrics_used = set()
    ns = args.namespace
    values = load_values(args.values)
    docs = load_docs(args.renders)
    # `helm test` hooks are checked on their own (check_test_hook): they are
    # not part of the installation, and their RBAC lives in tests.namespace.
    def is_test_hook(d):
        return ((d.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook") == "test"
    test_hooks = [d for d in docs if is_test_hook(d)]
    docs = [d for d in docs if not is_test_hook(d)]
    docker = parse_dockerfile(args.dockerfile)

    # ---- every object: known kind, metadata, namespace, uniqueness ----
    seen = set()
    by_kind = {}
    for d in docs:
        api, kind = d.get("apiVersion"), d.get("kind")
        meta = d.get("metadata") or {}
        name = meta.get("name")
        ident = f"{kind}/{name}"
        if not c.check(api and kind and name, f"object without apiVersion/kind/metadata.name: {str(d)[:120]}"):
            continue
        known = (api, kind) in BUILTIN_KINDS or (api, kind) in CRD_SCHEMAS
        c.check(known, f"{ident}: unknown kind {api} {kind}: add a schema for it to check_chart_rules.py")
        if (api, kind) in CRD_SCHEMAS:
            errors = sorted(jsonschema.Draft7Validator(CRD_SCHEMAS[(api, kind)]).iter_errors(d),
                            key=lambda e: list(e.path))
            for e in errors:
                c.check(False, f"{ident}: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
            c.check(True, "")
        if kind in CLUSTER_SCOPED:
            c.check("namespace" not in meta, f"{ident}: cluster-scoped object with a namespace")
        else:
            c.check(meta.get("namespace") == ns,
                    f"{ident}: namespace {meta.get('namespace')!r}, expected the release namespace {ns!r}")
        key = (kind, meta.get("namespace"), name)
        c.check(key not in seen, f"{ident}: defined twice")
        seen.add(key)
        by_kind.setdefault(kind, []).append(d)

    def one(kind):
        objs = by_kind.get(kind, [])
        c.check(len(objs) == 1, f"expected exactly one {kind}, found {len(objs)}")
        return objs[0] if objs else None

    def named(kind, name):
        for o in by_kind.get(kind, []):
            if o["metadata"]["name"] == name:
                return o
        return None

    # ---- Dockerfile ----
    c.check(docker["user"] is not None, "Dockerfile: final stage has no USER")
    user = (docker["user"] or "").split(":")
    c.check(all(re.fullmatch(r"[0-9]+", u) for u in user) and len(user) == 2,
            f"Dockerfile: USER {docker['user']!r} must be numeric uid:gid (runAsNonRoot needs a number)")
    uid = int(user[0]) if user and user[0].isdigit() else None
    gid = int(user[1]) if len(user) > 1 and user[1].isdigit() else None
    c.check(docker["entrypoint"] == [BINARY],
            f"Dockerfile: ENTRYPOINT {docker['entrypoint']} != [{BINARY!r}]")
    c.check(BINARY in docker["copies"], f"Dockerfile: final stage does not COPY the binary to {BINARY}")

    # ---- Deployment ----
    dep = one("Deployment")
    pod_labels, container, volumes, sa_name, tls_secret_name = {}, {}, {}, None, None
    if dep:
        spec = dep["spec"]
        tmpl = spec["template"]
        pod_labels = tmpl["metadata"].get("labels", {})
        pod = tmpl["spec"]
        sa_name = pod.get("serviceAccountName")
        c.check(spec.get("replicas") == values["replicaCount"],
                f"Deployment replicas {spec.get('replicas')} != values replicaCount {values['replicaCount']}")
        c.check(selector_matches(spec["selector"].get("matchLabels"), pod_labels),
                "Deployment selector does not match its pod template labels")
        c.check(re.fullmatch(r"[0-9a-f]{64}", str(tmpl["metadata"].get("annotations", {}).get("checksum/tls", ""))),
                "pod template lacks the checksum/tls annotation (pods would not roll on a new certificate)")
        containers = pod.get("containers", [])
        c.check(len(containers) == 1, f"expected one container, found {len(containers)}")
        container = containers[0] if containers else {}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}

        # image
        img = values["image"]
        want_image = (f"{img['repository']}@{img['digest']}" if img.get("digest")
                      else f"{img['repository']}:{img.get('tag') or args.app_version}")
        c.check(container.get("image") == want_image, f"image {container.get('image')!r} != {want_image!r}")
        c.check(container.get("imagePullPolicy") == img["pullPolicy"], "imagePullPolicy differs from values")

        # command = the image's entrypoint; args = the binary's interface
        c.check(container.get("command") == docker["entrypoint"],
                f"container command {container.get('command')} != Dockerfile ENTRYPOINT {docker['entrypoint']}")
        wh = values["webhook"]
        want_args = ["webhook", "--listen", f"0.0.0.0:{CONTAINER_PORT}",
                     "--tls-cert-file", f"{TLS_DIR}/tls.crt", "--tls-key-file", f"{TLS_DIR}/tls.key",
                     "--deadline", wh["deadline"], "--log-format", "json",
                     "--namespace", "$(POD_NAMESPACE)",
                     "--cache-ttl", values["cache"]["ttl"],
                     "--failure-cache-ttl", values["cache"]["failureTtl"],
                     "--tag-cache-ttl", values["cache"]["tagTtl"]]
        want_args += ["--max-connections", str(wh["maxConnections"])]
        want_args += ["--drain-period", f"{wh['drainSeconds']}s"]
        for reg in values.get("insecureRegistries") or []:
            want_args += ["--insecure-registry", reg]
        for host in values.get("registryAuthHosts") or []:
            want_args += ["--auth-host", host]
        if values["registryCredentials"]["secretName"]:
            want_args += ["--docker-config", DOCKER_CONFIG]
        if values["workloadPullSecrets"]["enabled"]:
            want_args.append("--workload-pull-secrets")
        if values["mutation"]["pinTemplates"]:
            want_args.append("--pin-templates")
        rca = values["registryCA"]
        if rca["bundle"] or rca["existingConfigMap"]:
            want_args += ["--registry-ca-file", f"/etc/nv2/registry-ca/{rca['key']}"]
        got_args = container.get("args", [])
        c.check(got_args == want_args, f"container args differ:\n  got  {got_args}\n  want {want_args}")
        c.check("--trust-dir" not in got_args, "--trust-dir must not be used in-cluster (ConfigMaps are)")
        env = {e["name"]: e for e in container.get("env", [])}
        for e in values.get("extraEnv") or []:
            c.check(env.get(e["name"]) == e, f"extraEnv {e['name']} is not in the container's env as given")
        c.check(env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                == "metadata.namespace", "env POD_NAMESPACE must come from fieldRef metadata.namespace")
        deadline = duration_seconds(wh["deadline"])
        c.check(deadline is not None and 0 < deadline < wh["timeoutSeconds"],
                f"--deadline {wh['deadline']} must be below timeoutSeconds {wh['timeoutSeconds']}")

        # port and probes
        ports = container.get("ports", [])
        c.check([(p.get("name"), p.get("containerPort"), p.get("protocol", "TCP")) for p in ports]
                == [(PORT_NAME, CONTAINER_PORT, "TCP")],
                f"container ports {ports} != [{PORT_NAME}: {CONTAINER_PORT}/TCP]")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            g = (container.get(probe) or {}).get("httpGet") or {}
            c.check((g.get("path"), g.get("port"), g.get("scheme")) == (path, PORT_NAME, "HTTPS"),
                    f"{probe} must be GET {path} on port {PORT_NAME} with scheme HTTPS, got {g}")

        # security
        psc = pod.get("securityContext") or {}
        csc = container.get("securityContext") or {}
        c.check(psc.get("runAsNonRoot") is True and csc.get("runAsNonRoot") is True, "runAsNonRoot must be true")
        c.check(psc.get("runAsUser") == uid and csc.get("runAsUser") == uid,
                f"runAsUser (pod {psc.get('runAsUser')}, container {csc.get('runAsUser')}) != Dockerfile USER uid {uid}")
        c.check(csc.get("runAsGroup") in (None, gid) and psc.get("runAsGroup") in (None, gid),
                f"runAsGroup != Dockerfile USER gid {gid}")
        c.check(uid == 65532, f"uid {uid} != 65532")
        c.check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true")
        c.check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false")
        c.check(csc.get("privileged") in (None, False), "privileged must not be true")
        c.check((csc.get("capabilities") or {}).get("drop") == ["ALL"]
                and not (csc.get("capabilities") or {}).get("add"), "capabilities must drop ALL and add none")
        for where, sc in (("pod", psc), ("container", csc)):
            c.check((sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
                    f"{where} seccompProfile must be RuntimeDefault")
        c.check(not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"),
                "no host namespaces")
        res = container.get("resources") or {}
        c.check(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
                and res.get("limits", {}).get("memory"), "resources: cpu/memory requests and a memory limit")
        if "cpu" not in ((values.get("resources") or {}).get("limits") or {}):
            c.check("cpu" not in (res.get("limits") or {}),
                    "a CPU limit on the admission path throttles bursts of reviews into timeouts")
        c.check(pod.get("priorityClassName") == (values.get("priorityClassName") or None),
                f"priorityClassName {pod.get('priorityClassName')!r} != values {values.get('priorityClassName')!r}")
        if not values.get("topologySpreadConstraints"):
            spread = {t.get("topologyKey"): t for t in pod.get("topologySpreadConstraints") or []}
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
                t = spread.get(key) or {}
                c.check(t.get("whenUnsatisfiable") == "ScheduleAnyway" and t.get("maxSkew") == 1
                        and selector_matches((t.get("labelSelector") or {}).get("matchLabels"), pod_labels),
                        f"default topology spread over {key} (maxSkew 1, ScheduleAnyway, selecting the pods) missing")
        # Graceful termination: preStop sleep (1.30+), drain, in-flight reviews.
        drain = values["webhook"]["drainSeconds"]
        pre = ((container.get("lifecycle") or {}).get("preStop") or {})
        if version_at_least(kube, (1, 30)):
            c.check(pre == {"sleep": {"seconds": drain}}, f"preStop must sleep {drain}s on {kube}, got {pre}")
        else:
            c.check(not pre, f"preStop sleep needs Kubernetes 1.30+, rendered for {kube}: {pre}")
        grace = pod.get("terminationGracePeriodSeconds")
        want_grace = (drain if pre else 0) + drain + values["webhook"]["timeoutSeconds"] + 5
        c.check(grace == want_grace, f"terminationGracePeriodSeconds {grace} != preStop + drain + timeout + 5 = {want_grace}")
        if not values.get("affinity"):
            terms = (((pod.get("affinity") or {}).get("podAntiAffinity") or {})
                     .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
            c.check(any(t["podAffinityTerm"].get("topologyKey") == "kubernetes.io/hostname"
                        and selector_matches(t["podAffinityTerm"]["labelSelector"].get("matchLabels"), pod_labels)
                        for t in terms), "preferred pod anti-affinity by kubernetes.io/hostname missing")

        # mounts: the TLS files and the docker config come from Secrets
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        tls_mount = mounts.get(TLS_DIR)
        if c.check(tls_mount and tls_mount.get("readOnly"), f"no read-only mount at {TLS_DIR}"):
            vol = volumes.get(tls_mount["name"], {})
            c.check("secret" in vol, f"{TLS_DIR} is not a Secret volume")
            tls_secret_name = vol.get("secret", {}).get("secretName")
        if rca["bundle"] or rca["existingConfigMap"]:
            m = mounts.get("/etc/nv2/registry-ca")
            vol = volumes.get(m["name"], {}) if m else {}
            cm_name = rca["existingConfigMap"] or f"{dep['metadata']['name']}-registry-ca"
            c.check(m and m.get("readOnly") and vol.get("configMap", {}).get("name") == cm_name,
                    f"registry CA ConfigMap {cm_name} must be mounted read-only at /etc/nv2/registry-ca")
            if rca["bundle"]:
                cm = named("ConfigMap", cm_name)
                c.check(cm and pem_certs((cm.get("data") or {}).get(rca["key"], "").encode()),
                        f"ConfigMap {cm_name} must hold the registry CA bundle under {rca['key']}")
        else:
            c.check("/etc/nv2/registry-ca" not in mounts, "registry CA mounted though none is configured")
        if values["registryCredentials"]["secretName"]:
            m = mounts.get("/etc/nv2/docker")
            vol = volumes.get(m["name"], {}) if m else {}
            c.check(vol.get("secret", {}).get("secretName") == values["registryCredentials"]["secretName"]
                    and vol["secret"].get("items") == [{"key": ".dockerconfigjson", "path": "config.json"}],
                    "the registry credentials Secret's .dockerconfigjson must be mounted as /etc/nv2/docker/config.json")
        else:
            c.check("/etc/nv2/docker" not in mounts, "docker config mounted though registryCredentials is off")

    # ---- ServiceAccount, RBAC ----
    c.check(sa_name and named("ServiceAccount", sa_name), f"ServiceAccount {sa_name!r} of the Deployment is not rendered")

    def bound(binding_kind, role_kind, role_name):
        for b in by_kind.get(binding_kind, []):
            if b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name} \
                    and {"kind": "ServiceAccount", "name": sa_name, "namespace": ns} in b.get("subjects", []):
                return True
        return False

    roles = by_kind.get("Role", [])
    cm_role = [r for r in roles if any("configmaps" in ru.get("resources", []) for ru in r.get("rules", []))]
    c.check(len(cm_role) == 1 and sorted(cm_role[0]["rules"][0]["verbs"]) == ["get", "list", "watch"]
            and cm_role[0]["rules"][0]["apiGroups"] == [""],
            "need one Role granting get/list/watch on configmaps")
    if cm_role:
        c.check(bound("RoleBinding", "Role", cm_role[0]["metadata"]["name"]),
                "the configmaps Role is not bound to the webhook's ServiceAccount")
    for r in roles:
        for ru in r.get("rules", []):
            c.check(set(ru.get("verbs", [])) <= {"get", "list", "watch"} and "*" not in ru.get("resources", []),
                    f"Role {r['metadata']['name']} grants more than read access: {ru}")
    cluster_roles = by_kind.get("ClusterRole", [])
    if values["workloadPullSecrets"]["enabled"]:
        ok = len(cluster_roles) == 1 and cluster_roles[0]["rules"] == [
            {"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get"]}]
        c.check(ok, f"workloadPullSecrets: need exactly one ClusterRole with get on secrets and serviceaccounts, got {cluster_roles}")
        if cluster_roles:
            c.check(bound("ClusterRoleBinding", "ClusterRole", cluster_roles[0]["metadata"]["name"]),
                    "the pull-secrets ClusterRole is not bound to the webhook's ServiceAccount")
    else:
        c.check(not cluster_roles and not by_kind.get("ClusterRoleBinding"),
                "cluster-wide RBAC rendered though workloadPullSecrets is off")

    # ---- Services ----
    services = {(s["metadata"]["name"], s["metadata"]["namespace"]): s for s in by_kind.get("Service", [])}
    for s in services.values():
        c.check(selector_matches(s["spec"].get("selector"), pod_labels),
                f"Service {s['metadata']['name']} selects no webhook pod")
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            c.check(tp in (PORT_NAME, CONTAINER_PORT), f"Service port {p['port']} targets {tp}, not the https port")

    # ---- webhook configurations ----
    vwc = one("ValidatingWebhookConfiguration")
    mwc = one("MutatingWebhookConfiguration")
    webhook_doc = []
    all_rules = []
    secret_obj = named("Secret", tls_secret_name) if tls_secret_name else None
    certificate = None
    for cfg, path, mutating in ((vwc, "/validate", False), (mwc, "/mutate", True)):
        if not cfg:
            continue
        kind = cfg["kind"]
        annotations = cfg["metadata"].get("annotations") or {}
        hooks = cfg.get("webhooks") or []
        c.check(len(hooks) == 1, f"{kind}: expected one webhook, found {len(hooks)}")
        names = [h.get("name") for h in hooks]
        c.check(len(set(names)) == len(names), f"{kind}: duplicate webhook names")
        for h in hooks:
            w = f"{kind}/{h.get('name')}"
            name = h.get("name") or ""
            c.check(len(name) <= 253 and name.count(".") >= 2
                    and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name),
                    f"{w}: name must be a fully qualified DNS subdomain with at least three segments")
            c.check(h.get("failurePolicy") in ("Fail", "Ignore"), f"{w}: failurePolicy {h.get('failurePolicy')!r}")
            c.check(h.get("failurePolicy") == values["webhook"]["failurePolicy"], f"{w}: failurePolicy differs from values")
            c.check(h.get("sideEffects") in ("None", "NoneOnDryRun"), f"{w}: sideEffects {h.get('sideEffects')!r}")
            c.check(h.get("sideEffects") == "None", f"{w}: sideEffects must be None")
            c.check(h.get("matchPolicy", "Equivalent") in ("Exact", "Equivalent"), f"{w}: matchPolicy {h.get('matchPolicy')!r}")
            c.check(h.get("matchPolicy") == "Equivalent", f"{w}: matchPolicy must be Equivalent")
            t = h.get("timeoutSeconds")
            c.check(isinstance(t, int) and 1 <= t <= 30, f"{w}: timeoutSeconds {t!r} not in 1..30")
            c.check(t == values["webhook"]["timeoutSeconds"], f"{w}: timeoutSeconds differs from values")
            arv = h.get("admissionReviewVersions") or []
            c.check("v1" in arv, f"{w}: admissionReviewVersions {arv} lacks v1")
            c.check(all(v in ("v1", "v1beta1") for v in arv), f"{w}: unknown admissionReviewVersions {arv}")
            if mutating:
                c.check(h.get("reinvocationPolicy") == "IfNeeded", f"{w}: reinvocationPolicy must be IfNeeded")
            else:
                c.check("reinvocationPolicy" not in h, f"{w}: reinvocationPolicy on a validating webhook")

            cc = h.get("clientConfig") or {}
            c.check(("url" in cc) != ("service" in cc), f"{w}: clientConfig needs exactly one of url and service")
            svc = cc.get("service") or {}
            c.check(svc.get("path") == path, f"{w}: path {svc.get('path')!r} != {path}")
            target = services.get((svc.get("name"), svc.get("namespace")))
            if c.check(target, f"{w}: Service {svc.get('namespace')}/{svc.get('name')} is not in the render"):
                port = svc.get("port", 443)
                c.check(any(p["port"] == port for p in target["spec"]["ports"]),
                        f"{w}: Service {svc.get('name')} has no port {port}")

            # trust: caBundle or cert-manager injection
            bundle = cc.get("caBundle")
            inject = annotations.get(INJECT_ANNOTATION)
            if inject:
                c.check(not bundle, f"{w}: both caBundle and {INJECT_ANNOTATION}")
                cns, _, cname = inject.partition("/")
                certificate = named("Certificate", cname)
                c.check(cns == ns and certificate,
                        f"{w}: {INJECT_ANNOTATION}={inject} names no Certificate of the render")
            elif args.ca_bundle_placeholder and bundle == args.ca_bundle_placeholder:
                c.check(b64(bundle) is None, "the caBundle placeholder must not be valid base64")
            else:
                raw = b64(bundle) if bundle else None
                certs = pem_certs(raw) if raw else None
                if c.check(certs, f"{w}: needs a caBundle (base64 of PEM certificates) or {INJECT_ANNOTATION}"):
                    ca = certs[0]
                    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints).value \
                        if any(isinstance(e.value, x509.BasicConstraints) for e in ca.extensions) else None
                    c.check(bc and bc.ca, f"{w}: caBundle certificate is not a CA")
                    if secret_obj and "ca.crt" in secret_obj.get("data", {}):
                        c.check(secret_obj["data"]["ca.crt"] == bundle,
                                f"{w}: caBundle differs from ca.crt of Secret {tls_secret_name}")
                    if secret_obj and "tls.crt" in secret_obj.get("data", {}):
                        check_serving_cert(c, w, secret_obj, ca, f"{svc.get('name')}.{svc.get('namespace')}.svc")

            mcs = h.get("matchConditions")
            if version_at_least(kube, (1, 28)):
                if c.check(mcs, f"{w}: no matchConditions on {kube} (UPDATEs without new images would be sent)"):
                    check_match_conditions(c, w, mcs, args.admission_fixtures)
            else:
                c.check(not mcs, f"{w}: matchConditions need Kubernetes 1.28+, rendered for {kube}")

            # namespaceSelector: kube-system, the release namespace, excluded
            # ones and the opt-out label are left alone; the mutating webhook
            # also skips namespaces labelled nv2.io/pin-digests=false.
            sel = h.get("namespaceSelector") or {}
            exprs = sel.get("matchExpressions") or []
            for e in exprs:
                op = e.get("operator")
                c.check(op in ("In", "NotIn", "Exists", "DoesNotExist"), f"{w}: selector operator {op!r}")
                c.check(bool(e.get("values")) == (op in ("In", "NotIn")),
                        f"{w}: selector {e}: In/NotIn need values, Exists/DoesNotExist take none")
            notin = set()
            for e in exprs:
                if e.get("key") == NAME_LABEL and e.get("operator") == "NotIn":
                    notin |= set(e.get("values") or [])
            want = {"kube-system", ns} | set(values["webhook"].get("excludeNamespaces") or [])
            c.check(want <= notin, f"{w}: namespaceSelector does not exclude {sorted(want - notin)}")
            c.check({"key": IGNORE_LABEL, "operator": "DoesNotExist"} in exprs,
                    f"{w}: namespaceSelector does not honour the {IGNORE_LABEL} label")
            c.check(not sel.get("matchLabels"), f"{w}: unexpected namespaceSelector.matchLabels")
            pin = [e for e in exprs if e.get("key") == PIN_LABEL]
            if mutating:
                c.check(pin == [PIN_OPT_OUT],
                        f"{w}: namespaceSelector must hold exactly one {PIN_LABEL} expression, "
                        f"{PIN_OPT_OUT}, got {pin}")
            else:
                c.check(not pin, f"{w}: {PIN_LABEL} in the validating namespaceSelector: "
                                 f"opted-out namespaces must still be verified, got {pin}")

            # rules
            rules = h.get("rules") or []
            got = set()
            for r in rules:
                ops = r.get("operations") or []
                c.check(ops and set(ops) <= {"CREATE", "UPDATE", "DELETE", "CONNECT", "*"}, f"{w}: operations {ops}")
                c.check(set(ops) == EXPECTED_OPERATIONS, f"{w}: operations {ops} != CREATE, UPDATE")
                c.check(r.get("scope", "*") in ("Cluster", "Namespaced", "*"), f"{w}: scope {r.get('scope')!r}")
                c.check(r.get("apiGroups") and r.get("apiVersions") and r.get("resources"),
                        f"{w}: rule with empty apiGroups/apiVersions/resources")
                for g in r.get("apiGroups", []):
                    for res in r.get("resources", []):
                        c.check("*" not in res, f"{w}: wildcard resource {res}")
                        got.add((g, res))
            c.check(got == EXPECTED_RESOURCES,
                    f"{w}: rules cover {sorted(got)}, expected {sorted(EXPECTED_RESOURCES)}")
            all_rules.append([{k: r.get(k) for k in ("apiGroups", "apiVersions", "resources", "operations", "scope")}
                              for r in rules])
            webhook_doc.append({
                "configuration": kind, "name": h.get("name"), "path": svc.get("path"),
                "failurePolicy": h.get("failurePolicy"), "timeoutSeconds": t,
                "rules": all_rules[-1],
                "kinds": [
                    {"group": g, "version": v, "resource": res.split("/")[0],
                     "subResource": res.split("/")[1] if "/" in res else "",
                     "kind": KIND_OF_RESOURCE.get(res.split("/")[0], ""), "operation": op}
                    for r in rules for g in r["apiGroups"] for v in r["apiVersions"]
                    for res in r["resources"] for op in r["operations"]],
            })
    if len(all_rules) == 2:
        c.check(all_rules[0] == all_rules[1], "validating and mutating webhooks have different rules")

    # ---- TLS source ----
    tls = values["tls"]
    if tls["certManager"]["enabled"]:
        c.check(certificate is not None, "cert-manager: no Certificate injected into the webhooks")
        if certificate:
            cs = certificate["spec"]
            c.check(cs["secretName"] == tls_secret_name,
                    f"Certificate writes {cs['secretName']}, the Deployment mounts {tls_secret_name}")
            host = f"{services and next(iter(services))[0]}.{ns}.svc"
            c.check(host in cs.get("dnsNames", []), f"Certificate dnsNames lack {host}")
            c.check("server auth" in cs.get("usages", ["server auth"]), "Certificate without server auth usage")
            issuer = cs["issuerRef"]
            if issuer.get("kind", "Issuer") == "Issuer":
                iss = named("Issuer", issuer["name"])
                if c.check(iss, f"Certificate's Issuer {issuer['name']} is not in the render") and "ca" in iss["spec"]:
                    ca_cert = [x for x in by_kind.get("Certificate", [])
                               if x["spec"].get("secretName") == iss["spec"]["ca"]["secretName"]]
                    c.check(ca_cert and ca_cert[0]["spec"].get("isCA") is True,
                            "the CA Issuer's Secret is not written by an isCA Certificate")
        c.check(not secret_obj, "cert-manager mode renders the TLS Secret itself")
    elif tls.get("secretName"):
        c.check(tls_secret_name == tls["secretName"], f"Deployment mounts {tls_secret_name}, not tls.secretName")
    else:
        c.check(secret_obj and secret_obj.get("type") == "kubernetes.io/tls"
                and {"ca.crt", "tls.crt", "tls.key"} <= set(secret_obj.get("data", {})),
                f"generated TLS: Secret {tls_secret_name} (type kubernetes.io/tls, ca.crt/tls.crt/tls.key) missing")

    # ---- trust policy and stores ----
    cms = by_kind.get("ConfigMap", [])
    policies = [m for m in cms if (m["metadata"].get("labels") or {}).get(TRUST_POLICY_LABEL) == "true"]
    c.check(len(policies) == 1, f"expected one ConfigMap labelled {TRUST_POLICY_LABEL}=true, found {len(policies)}")
    stores = {}
    for m in cms:
        t = (m["metadata"].get("labels") or {}).get(TRUST_STORE_LABEL)
        if t is None:
            continue
        c.check(t in ("ca", "signingAuthority"), f"ConfigMap {m['metadata']['name']}: {TRUST_STORE_LABEL}={t!r}")
        stores[(t, m["metadata"]["name"])] = m
        for k, v in (m.get("data") or {}).items():
            c.check(pem_certs(v.encode()) is not None, f"trust store {m['metadata']['name']}/{k}: not PEM certificates")
    want_stores = {(s["type"], s["name"]) for s in values.get("trustStores") or []}
    c.check(set(stores) == want_stores, f"trust stores {sorted(stores)} != values {sorted(want_stores)}")
    if policies:
        raw = (policies[0].get("data") or {}).get("trustpolicy.json")
        try:
            policy = json.loads(raw)
        except (TypeError, json.JSONDecodeError) as e:
            policy = None
            c.check(False, f"trustpolicy.json is not JSON: {e}")
        if policy is not None:
            c.check(policy == values["trustPolicy"], "trustpolicy.json differs from values trustPolicy")
            c.check(policy.get("version") == "1.0", "trust policy version must be 1.0")
            scopes = [s for p in policy.get("trustPolicies", []) for s in p.get("registryScopes", [])]
            c.check(len(scopes) == len(set(scopes)), "a registry scope appears in two trust policies")
            for p in policy.get("trustPolicies", []):
                level = (p.get("signatureVerification") or {}).get("level")
                c.check(level in ("strict", "permissive", "audit", "skip"), f"policy {p.get('name')}: level {level!r}")
                for ref in p.get("trustStores", []):
                    t, _, n = ref.partition(":")
                    c.check((t, n) in stores, f"policy {p.get('name')}: trust store {ref} has no ConfigMap "
                                              f"named {n} labelled {TRUST_STORE_LABEL}={t}")

    # ---- PodDisruptionBudget ----
    pdbs = by_kind.get("PodDisruptionBudget", [])
    pdb_values = values["podDisruptionBudget"]
    satisfiable = not isinstance(pdb_values["minAvailable"], int) or pdb_values["minAvailable"] < values["replicaCount"]
    if pdb_values["enabled"] and not satisfiable:
        c.check(not pdbs, f"a PodDisruptionBudget with minAvailable {pdb_values['minAvailable']} and "
                          f"{values['replicaCount']} replica(s) can never be met: it would block every drain")
    elif pdb_values["enabled"]:
        if c.check(len(pdbs) == 1, "PodDisruptionBudget missing"):
            policy = pdbs[0]["spec"].get("unhealthyPodEvictionPolicy")
            if version_at_least(kube, (1, 27)):
                c.check(policy == pdb_values["unhealthyPodEvictionPolicy"],
                        f"PDB unhealthyPodEvictionPolicy {policy!r} != values (unready pods must not block drains)")
            else:
                c.check(policy is None, f"unhealthyPodEvictionPolicy needs Kubernetes 1.27+, rendered for {kube}")
            p = pdbs[0]["spec"]
            c.check(selector_matches(p["selector"].get("matchLabels"), pod_labels), "PDB selects no webhook pod")
            ma = p.get("minAvailable")
            c.check(ma == values["podDisruptionBudget"]["minAvailable"], "PDB minAvailable differs from values")
            if isinstance(ma, int) and dep:
                c.check(dep["spec"]["replicas"] > ma,
                        f"PDB minAvailable {ma} >= replicas {dep['spec']['replicas']}: nodes could never be drained")
    else:
        c.check(not pdbs, "PodDisruptionBudget rendered though disabled")

    # ---- alerts and dashboard ----
    rules_objs = by_kind.get("PrometheusRule", [])
    if values["metrics"]["prometheusRule"]["enabled"]:
        if c.check(len(rules_objs) == 1, "PrometheusRule missing"):
            alerts = {}
            for g in rules_objs[0]["spec"]["groups"]:
                for r in g["rules"]:
                    alerts[r["alert"]] = r
                    metrics_used |= promql_metrics(c, f"alert {r['alert']}", r["expr"])
                    c.check((r.get("annotations") or {}).get("summary"), f"alert {r['alert']}: no summary")
            want = {"Nv2TrustConfigurationInvalid", "Nv2NoReadyReplicas", "Nv2DenyRateJump",
                    "Nv2ReviewLatencyNearDeadline", "Nv2RegistryErrors"}
            c.check(want <= set(alerts), f"alerts {sorted(alerts)} lack {sorted(want - set(alerts))}")
            latency = alerts.get("Nv2ReviewLatencyNearDeadline", {}).get("expr", "")
            deadline = duration_seconds(values["webhook"]["deadline"])
            m = re.search(r"> 0\.8 \* ([0-9.]+)", latency)
            c.check(m and deadline is not None and abs(float(m.group(1)) - deadline) < 1e-6,
                    f"latency alert must compare with 0.8 × the deadline ({deadline}s): {latency}")
    else:
        c.check(not rules_objs, "PrometheusRule rendered though disabled")
    boards = [m for m in by_kind.get("ConfigMap", []) if m["metadata"]["name"].endswith("-dashboard")]
    if values["metrics"]["grafanaDashboard"]["enabled"]:
        if c.check(len(boards) == 1, "Grafana dashboard ConfigMap missing"):
            b = boards[0]
            labels = values["metrics"]["grafanaDashboard"]["labels"] or {"grafana_dashboard": "1"}
            c.check(labels.items() <= (b["metadata"].get("labels") or {}).items(),
                    f"dashboard ConfigMap lacks the sidecar labels {labels}")
            try:
                board = json.loads(b["data"]["nv2.json"])
            except (KeyError, json.JSONDecodeError) as e:
                board = {}
                c.check(False, f"dashboard is not JSON: {e}")
            panels = board.get("panels") or []
            c.check(board.get("uid") and board.get("title") and panels, "dashboard needs uid, title and panels")
            ids = [p.get("id") for p in panels]
            c.check(len(ids) == len(set(ids)), "dashboard panel ids repeat")
            for p in panels:
                c.check(p.get("targets"), f"dashboard panel {p.get('title')!r} has no query")
                for t in p.get("targets") or []:
                    metrics_used |= promql_metrics(c, f"dashboard panel {p.get('title')!r}", t.get("expr", ""))
    else:
        c.check(not boards, "dashboard rendered though disabled")

    # ---- optional objects ----
    sms = by_kind.get("ServiceMonitor", [])
    if values["metrics"]["serviceMonitor"]["enabled"]:
        if c.check(len(sms) == 1, "ServiceMonitor missing"):
            sm = sms[0]["spec"]
            c.check(any(selector_matches(sm["selector"].get("matchLabels"), s["metadata"].get("labels", {}))
                        for s in services.values()), "ServiceMonitor selects no Service")
            for e in sm["endpoints"]:
                c.check(any(p.get("name") == e.get("port") for s in services.values() for p in s["spec"]["ports"]),
                        f"ServiceMonitor endpoint port {e.get('port')!r} is not a Service port name")
                c.check((e.get("path"), e.get("scheme", "http").lower()) == ("/metrics", "https"),
                        "ServiceMonitor must scrape https /metrics")
    else:
        c.check(not sms, "ServiceMonitor rendered though disabled")
    nps = by_kind.get("NetworkPolicy", [])
    if values["networkPolicy"]["enabled"]:
        if c.check(len(nps) == 1, "NetworkPolicy missing"):
            np = nps[0]["spec"]
            c.check(selector_matches(np["podSelector"].get("matchLabels"), pod_labels), "NetworkPolicy selects no pod")
            c.check(set(np.get("policyTypes", [])) == {"Ingress", "Egress"}, "NetworkPolicy policyTypes")
            c.check(any(not r.get("from") and any(p.get("port") in (CONTAINER_PORT, PORT_NAME) for p in r.get("ports", []))
                        for r in np.get("ingress", [])), "NetworkPolicy must admit port 8443 from anywhere")
            npv = values["networkPolicy"]

            def egress_to(cidrs):
                # Ports of the egress rules whose destinations are exactly `cidrs` (none: anywhere).
                want = sorted(cidrs or [])
                return {(p.get("port"), p.get("protocol", "TCP")) for r in np.get("egress", [])
                        if sorted(b.get("ipBlock", {}).get("cidr") for b in r.get("to") or []) == want
                        for p in r.get("ports", [])}
            for need in [(53, "UDP"), (53, "TCP")]:
                c.check(need in egress_to([]), f"NetworkPolicy egress lacks {need[0]}/{need[1]}")
            for key, ports in (("registryCIDRs", npv["registryPorts"]), ("apiServerCIDRs", npv["apiServerPorts"])):
                got = egress_to(npv.get(key))
                for p in ports:
                    c.check((p, "TCP") in got, f"NetworkPolicy egress lacks {p}/TCP to {npv.get(key) or 'anywhere'}")
            # With allow-lists, nothing else may open their ports to anywhere.
            if npv.get("registryCIDRs") and npv.get("apiServerCIDRs"):
                open_ports = {p for (p, _) in egress_to([])} - {53}
                extra = {(p.get("port")) for r in npv.get("extraEgress") or [] if not r.get("to") for p in r.get("ports", [])}
                c.check(not (open_ports - extra), f"NetworkPolicy opens {sorted(open_ports - extra)} to anywhere despite the CIDR lists")
    else:
        c.check(not nps, "NetworkPolicy rendered though disabled")

    if args.rules_out:
        with open(args.rules_out, "w") as f:
            json.dump({"namespace": ns, "webhooks": webhook_doc}, f, indent=2)
            f.write("\n")
    check_test_hook(c, test_hooks, values, ns, docker)

    if args.interface_out:
        with open(args.interface_out, "w") as f:
            json.dump({"args": container.get("args", []), "env": container.get("env", [])}, f, indent=2)
            f.write("\n")
    if args.metrics_out:
        c.check(metrics_used, "--metrics-out: the render has no alert or dashboard reading nv2 metrics")
        with open(args.metrics_out, "w") as f:
            json.dump(sorted(metrics_used), f, indent=2)
            f.write("\n")
    return c


def check_test_hook(c, hooks, values, ns, docker):
    """`helm test`: a Pod running `nv2 expect-denial` for tests.namespace and
    tests.unsignedImage, with a ServiceAccount that may only create Pods
    there; every object deleted once it succeeded."""
    t = values["tests"]
    if not t["enabled"]:
        c.check(not hooks, "helm test objects rendered though tests.enabled is false")
        return
    kinds = {d["kind"]: d for d in hooks}
    c.check(sorted(kinds) == ["Pod", "Role", "RoleBinding", "ServiceAccount"] and len(hooks) == 4,
            f"helm test: expected a Pod, a ServiceAccount, a Role and a RoleBinding, got {sorted(kinds)}")
    for d in hooks:
        policy = d["metadata"]["annotations"].get("helm.sh/hook-delete-policy", "")
        c.check("hook-succeeded" in policy and "before-hook-creation" in policy,
                f"helm test {d['kind']}: hook-delete-policy {policy!r}")
        want_ns = t["namespace"] if d["kind"] in ("Role", "RoleBinding") else ns
        c.check(d["metadata"].get("namespace") == want_ns, f"helm test {d['kind']} in {d['metadata'].get('namespace')!r}, not {want_ns!r}")
    pod, sa, role, rb = (kinds.get(k) for k in ("Pod", "ServiceAccount", "Role", "RoleBinding"))
    if not (pod and sa and role and rb):
        return
    c.check(role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}],
            f"helm test Role must grant create on pods only, got {role['rules']}")
    c.check(rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
            and rb.get("subjects") == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": ns}],
            "helm test RoleBinding must bind its Role to its ServiceAccount only")
    spec = pod["spec"]
    c.check(spec.get("serviceAccountName") == sa["metadata"]["name"] and spec.get("restartPolicy") == "Never",
            "helm test Pod: its ServiceAccount, restartPolicy Never")
    containers = spec.get("containers") or [{}]
    cont = containers[0]
    c.check(len(containers) == 1 and cont.get("command") == docker["entrypoint"]
            and cont.get("args") == ["expect-denial", "--namespace", t["namespace"], "--image", t["unsignedImage"]],
            f"helm test Pod must run `nv2 expect-denial --namespace NS --image IMAGE`, got {cont.get('command')} {cont.get('args')}")
    csc = cont.get("securityContext") or {}
    c.check(csc.get("runAsNonRoot") is True and csc.get("allowPrivilegeEscalation") is False
            and csc.get("readOnlyRootFilesystem") is True and (csc.get("capabilities") or {}).get("drop") == ["ALL"],
            "helm test Pod: non-root, read-only, no privilege escalation, capabilities dropped")
    c.check(t["namespace"] not in ({"kube-system", ns} | set(values["webhook"].get("excludeNamespaces") or [])),
            f"tests.namespace {t['namespace']!r} is excluded from nv2: the test could never see a denial")


def check_serving_cert(c, w, secret, ca, host):
    """The serving certificate: signed by the caBundle CA, for the Service's name, valid now."""
    certs = pem_certs(b64(secret["data"]["tls.crt"]) or b"")
    if not c.check(certs, f"{w}: tls.crt of the Secret is not a PEM certificate"):
        return
    leaf = certs[0]
    try:
        leaf.verify_directly_issued_by(ca)
        signed = True
    except (ValueError, TypeError, Exception):  # noqa: B014 - InvalidSignature and friends
        signed = False
    c.check(signed, f"{w}: tls.crt is not signed by the caBundle CA")
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        sans = []
    c.check(host in sans, f"{w}: tls.crt SANs {sans} lack {host}")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        c.check(ExtendedKeyUsageOID.SERVER_AUTH in eku, f"{w}: tls.crt lacks serverAuth")
    except x509.ExtensionNotFound:
        pass
    now = datetime.datetime.now(datetime.timezone.utc)
    c.check(leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc, f"{w}: tls.crt is not valid now")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--values", action="append", required=True)
    ap.add_argument("--dockerfile", default="Dockerfile")
    ap.add_argument("--app-version", required=True)
    ap.add_argument("--ca-bundle-placeholder")
    ap.add_argument("--rules-out")
    ap.add_argument("--interface-out",
                    help="write the webhook container's args and env (JSON), for the binary to parse")
    ap.add_argument("--metrics-out",
                    help="write the nv2 metric names the alerts and dashboard read (JSON list)")
    ap.add_argument("--kube-version", required=True,
                    help="the Kubernetes version the render was made for (helm --kube-version)")
    ap.add_argument("--admission-fixtures", default="tests/data/admission",
                    help="API-server-shaped AdmissionReviews to evaluate matchConditions on")
    ap.add_argument("renders", nargs="+")
    args = ap.parse_args()
    c = run(args)
    if c.failures:
        for f in c.failures:
            print(f"  - {f}")
        print(f"{len(c.failures)} of {c.count} rules failed")
        return 1
    print(f"{c.count} rules hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
