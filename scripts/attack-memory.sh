#!/usr/bin/env bash
# Memory and honest-review latency of the release webhook under the attacks of
# issue 17 ("hostile registries and hostile clients"), one after another on
# one process:
#   - admission kinds: 100 POSTs with a 2.9 MB `kind`, 10,000 distinct kinds;
#   - registry hosts: 20,000 distinct registry hosts named in Pods;
#   - registry tokens: 9,284 repositories of a hostile registry, an 8 KiB
#     token each, and one 64 KiB token;
#   - slow-loris bodies: 150 TLS connections holding unfinished 3 MiB bodies;
#   - slow-loris handshakes and headers: 250 idle TCP + 250 stalled-header TLS
#     connections;
#   - h2 stream floods: 8 connections × 200 streams of 1 MiB each.
# Meanwhile honest reviews (a signed image on a loopback docker-registry,
# warm cache) are sent one after another; each row gives the webhook's VmRSS
# (peak sampled every 50 ms during the attack, and 1 s after it) and the
# honest reviews' p50 and p99. Goal: RSS < 100 MiB through every attack, and
# honest p99 as in the baseline row.
#
#   scripts/attack-memory.sh            # builds the release binary and the
#                                       # attacker (examples/attack.rs), runs
#                                       # everything on 127.0.0.1, prints a
#                                       # Markdown table
#
# Needs: docker-registry, skopeo, umoci, openssl, curl, python3 (as the tests).
# Extra webhook flags can be given in WEBHOOK_FLAGS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release --locked --bin nv2 --example attack >/dev/null 2>&1)
nv2="$root/target/release/nv2"
attack="$root/target/release/examples/attack"
work="$(mktemp -d)"; pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT; cd "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A loopback registry with one signed, linked image (the honest workload).
port=$(free_port); reg="localhost:$port"
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s/registry}}\nhttp: {addr: 127.0.0.1:%s}\n' "$work" "$port" > registry.yml
docker-registry serve registry.yml >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
umoci init --layout hello >/dev/null && umoci new --image hello:dev >/dev/null
"$nv2" keygen --cn localhost -k key.pem -c cert.pem 2>/dev/null
"$nv2" sign -m x509 -k key.pem -o s.nv2 oci-layout:./hello:dev >/dev/null
skopeo copy --quiet --preserve-digests --dest-tls-verify=false oci:./hello:dev "docker://$reg/hello:v1"
"$nv2" push s.nv2 --insecure --link "docker://$reg/hello:v1" "docker://$reg/hello" >/dev/null 2>&1
mkdir -p trust/x509/ca/bench && cp cert.pem trust/x509/ca/bench/
echo '{"version":"1.0","trustPolicies":[{"name":"all","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:bench"],"trustedIdentities":["*"]}]}' > trust/trustpolicy.json
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost -keyout tls.key -out tls.crt \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE 2>/dev/null
python3 - "$reg/hello:v1" > review.json <<'PY'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
       "spec": {"containers": [{"name": "app", "image": sys.argv[1]}]}}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
  "uid": "honest", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "resource": {"group": "", "version": "v1", "resource": "pods"},
  "name": "p", "namespace": "default", "operation": "CREATE", "userInfo": {"username": "honest"}, "object": pod}}))
PY

# The webhook, with its default limits; the hostile registry's port is an
# insecure registry, as a careless configuration would have it.
hport=$(free_port); wport=$(free_port)
# shellcheck disable=SC2086
NV2_LOG=error "$nv2" webhook --listen "127.0.0.1:$wport" --tls-cert-file tls.crt --tls-key-file tls.key --trust-dir trust \
  --insecure-registry "$reg" --insecure-registry "localhost:$hport" ${WEBHOOK_FLAGS:-} 2>webhook.log & wpid=$!; pids+=($wpid)
for _ in $(seq 100); do curl -sf --cacert tls.crt "https://localhost:$wport/readyz" >/dev/null && break; sleep 0.1; done
allowed=$(curl -s --cacert tls.crt -H 'Content-Type: application/json' --data @review.json "https://localhost:$wport/validate" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["response"]["allowed"])')
[ "$allowed" = "True" ] || { echo "the honest review is not allowed: $(tail -3 webhook.log)" >&2; exit 1; }
echo "release webhook, default limits$( [ -n "${WEBHOOK_FLAGS:-}" ] && echo " + $WEBHOOK_FLAGS"); RSS idle: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$wpid/status)"
echo
"$attack" "$wport" tls.crt "$wpid" review.json "$hport"
echo
curl -s --cacert tls.crt "https://localhost:$wport/metrics" > metrics.txt
echo "/metrics after all attacks: $(wc -c < metrics.txt) bytes, $(grep -c '^nv2_' metrics.txt) series;" \
  "tokens held: $(awk '/^nv2_registry_tokens / {print $2}' metrics.txt) ($(awk '/^nv2_registry_token_bytes / {print $2}' metrics.txt) bytes)"
