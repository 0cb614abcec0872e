#!/usr/bin/env bash
# make demo: the seed's scenarios end to end, from a fresh checkout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nv2="$root/target/release/nv2"

need=()
for pkg in openssl umoci skopeo docker-registry; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; }

step "Scenario 1: local build, sign, verify"
show "umoci init --layout hello && umoci new --image hello:dev   # build an image"
umoci init --layout hello && umoci new --image hello:dev
show "nv2 keygen --cn localhost -k key.pem -c cert.pem"
"$nv2" keygen --cn localhost -k key.pem -c cert.pem
show "nv2 manifest oci-layout:./hello:dev > manifest.json"
"$nv2" manifest oci-layout:./hello:dev > manifest.json
show "cat manifest.json | nv2 sign -m x509 -k key.pem -o hello-world.nv2"
cat manifest.json | "$nv2" sign -m x509 -k key.pem -o hello-world.nv2
show "cat manifest.json | nv2 verify -f hello-world.nv2 -c cert.pem"
cat manifest.json | "$nv2" verify -f hello-world.nv2 -c cert.pem
show "nv2 inspect hello-world.nv2"
"$nv2" inspect hello-world.nv2
show "nv2 keygen --cn someone-else -k other.pem -c other.crt; verify with their certificate (must fail)"
"$nv2" keygen --cn someone-else -k other.pem -c other.crt
if cat manifest.json | "$nv2" verify -f hello-world.nv2 -c other.crt; then
  echo "demo: verification with the wrong certificate passed" >&2; exit 1
fi
echo "(refused, as it should be)"

step "Scenario 2: sign, rename, push, link, verify in a registry"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg="localhost:$port"
cat > registry.yml <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve registry.yml >registry.log 2>&1 & pids+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
echo "(a local registry is listening on $reg)"
show "nv2 sign -m x509 -k key.pem -c cert.pem -r $reg/hello-world:v1.0 -o hello-world.nv2 oci-layout:./hello:dev"
"$nv2" sign -m x509 -k key.pem -c cert.pem -r "$reg/hello-world:v1.0" -o hello-world.nv2 oci-layout:./hello:dev
show "skopeo copy --preserve-digests oci:./hello:dev docker://$reg/hello-world:v1.0   # rename + push the image"
skopeo copy --quiet --preserve-digests --dest-tls-verify=false oci:./hello:dev "docker://$reg/hello-world:v1.0"
show "nv2 push hello-world.nv2 --insecure docker://$reg/hello-world"
sig=$("$nv2" push hello-world.nv2 --insecure "docker://$reg/hello-world"); echo "$sig"
show "nv2 link --insecure docker://$reg/hello-world@$sig docker://$reg/hello-world:v1.0"
"$nv2" link --insecure "docker://$reg/hello-world@$sig" "docker://$reg/hello-world:v1.0"
show "nv2 verify -f hello-world.nv2 -c cert.pem --insecure docker://$reg/hello-world:v1.0"
"$nv2" verify -f hello-world.nv2 -c cert.pem --insecure "docker://$reg/hello-world:v1.0"
show "nv2 verify -c cert.pem --insecure docker://$reg/hello-world:v1.0   # discovers the linked signatures"
"$nv2" verify -c cert.pem --insecure "docker://$reg/hello-world:v1.0"
show "nv2 list --insecure docker://$reg/hello-world:v1.0"
"$nv2" list --insecure "docker://$reg/hello-world:v1.0"
show "an unsigned image: nv2 verify -c cert.pem --insecure docker://$reg/unsigned:v1 (must fail)"
umoci new --image hello:unsigned && umoci config --image hello:unsigned --config.label demo=unsigned
skopeo copy --quiet --preserve-digests --dest-tls-verify=false oci:./hello:unsigned "docker://$reg/unsigned:v1"
if "$nv2" verify -c cert.pem --insecure "docker://$reg/unsigned:v1"; then
  echo "demo: an unsigned image verified" >&2; exit 1
fi
echo "(refused, as it should be)"

step "Deploy-time enforcement: nv2 webhook admits the signed pod, denies the unsigned one"
mkdir -p trust/x509/ca/demo && cp cert.pem trust/x509/ca/demo/
cat > trust/trustpolicy.json <<JSON
{"version": "1.0", "trustPolicies": [
  {"name": "demo", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
   "trustStores": ["ca:demo"], "trustedIdentities": ["*"]}]}
JSON
show "nv2 policy check trust $reg/hello-world:v1.0"
"$nv2" policy check trust "$reg/hello-world:v1.0"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout tls.key -out tls.crt \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE 2>/dev/null
wport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
show "nv2 webhook --listen 127.0.0.1:$wport --tls-cert-file tls.crt --tls-key-file tls.key --trust-dir trust --insecure-registry $reg &"
"$nv2" webhook --listen "127.0.0.1:$wport" --tls-cert-file tls.crt --tls-key-file tls.key --trust-dir trust \
  --insecure-registry "$reg" 2>webhook.log & pids+=($!)
for _ in $(seq 100); do curl -sf --cacert tls.crt "https://localhost:$wport/readyz" >/dev/null && break; sleep 0.1; done
review() {  # review UID IMAGE: an AdmissionReview for a Pod, as the API server sends it
  python3 - "$1" "$2" <<'PY'
import json, sys
uid, image = sys.argv[1], sys.argv[2]
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo", "namespace": "default"},
       "spec": {"containers": [{"name": "app", "image": image}]}}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"}, "name": "demo", "namespace": "default",
    "operation": "CREATE", "userInfo": {"username": "demo"}, "object": pod, "oldObject": None, "dryRun": False}}))
PY
}
summarise() {
  python3 -c '
import base64, json, sys
r = json.load(sys.stdin)["response"]
print("allowed:", r["allowed"])
if "patch" in r: print("patch:  ", base64.b64decode(r["patch"]).decode())
if "status" in r: print("reason: ", r["status"]["message"])
for w in r.get("warnings", []): print("warning:", w)'
}
show "POST /mutate: a Pod running $reg/hello-world:v1.0 (signed)"
out=$(review signed-1 "$reg/hello-world:v1.0" | curl -s --cacert tls.crt -H 'Content-Type: application/json' --data @- "https://localhost:$wport/mutate")
echo "$out" | summarise
echo "$out" | grep -q '"allowed":true' || { echo "demo: the signed pod was not admitted" >&2; exit 1; }
show "POST /validate: a Pod running $reg/unsigned:v1 (unsigned)"
out=$(review unsigned-1 "$reg/unsigned:v1" | curl -s --cacert tls.crt -H 'Content-Type: application/json' --data @- "https://localhost:$wport/validate")
echo "$out" | summarise
echo "$out" | grep -q '"allowed":false' || { echo "demo: the unsigned pod was admitted" >&2; exit 1; }
echo
echo "demo: all scenarios passed"
