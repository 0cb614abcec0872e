#!/usr/bin/env bash
# Webhook load run: warm-cache AdmissionReviews over HTTPS keep-alive from wrk
# (a second process), against the release binary and a loopback registry,
# with a baseline (GET /healthz on the same server) in the same run. Also the
# cold cost of one review and the process RSS idle and under load.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nv2="$root/target/release/nv2"
(cd "$root" && make -s build >/dev/null 2>&1)
work="$(mktemp -d)"; pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT; cd "$work"
DURATION="${DURATION:-10s}" CONNS="${CONNS:-32}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
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
wport=$(free_port)
NV2_LOG=warn "$nv2" webhook --listen "127.0.0.1:$wport" --tls-cert-file tls.crt --tls-key-file tls.key --trust-dir trust \
  --insecure-registry "$reg" 2>webhook.log & wpid=$!; pids+=($wpid)
for _ in $(seq 100); do curl -sf --cacert tls.crt "https://localhost:$wport/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$wpid/status; }
echo "RSS idle: $(rss)"
python3 - "$reg/hello:v1" > review.json <<'PY'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
       "spec": {"containers": [{"name": "app", "image": sys.argv[1]}]}}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
  "uid": "bench", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "resource": {"group": "", "version": "v1", "resource": "pods"},
  "name": "p", "namespace": "default", "operation": "CREATE", "userInfo": {"username": "bench"}, "object": pod}}))
PY
cold=$(curl -s -o /dev/null -w '%{time_total}' --cacert tls.crt -H 'Content-Type: application/json' --data @review.json "https://localhost:$wport/validate")
echo "cold review (resolve + discover + verify, one image): $(python3 -c "print(f'{$cold*1000:.1f} ms')") wall via curl"
cat > post.lua <<'LUA'
local f = io.open("review.json", "r"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
LUA
run() { wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$@" 2>&1; }
echo "== warm reviews: POST /validate ($CONNS connections, $DURATION)"
run -s post.lua "https://localhost:$wport/validate" | tee validate.txt | grep -E "Requests/sec|50%|99%"
echo "RSS under load: $(rss)"
echo "== baseline: GET /healthz on the same server"
run "https://localhost:$wport/healthz" | tee health.txt | grep -E "Requests/sec|50%|99%"
python3 - <<'PY'
import re
def rps(f): return float(re.search(r"Requests/sec:\s+([\d.]+)", open(f).read()).group(1))
v, h = rps("validate.txt"), rps("health.txt")
print(f"ratio reviews/healthz throughput: {v / h:.2f}")
PY
curl -s --cacert tls.crt "https://localhost:$wport/metrics" > metrics.txt
python3 - <<'PY'
import re
m = open("metrics.txt").read()
b = {float(k) if k != "+Inf" else float("inf"): int(v) for k, v in re.findall(r'nv2_admission_duration_seconds_bucket\{le="([^"]+)"\} (\d+)', m)}
total = b[float("inf")]
for le in (0.001, 0.002):
    print(f"server-side: {100 * b[le] / total:.2f}% of {total} reviews answered within {le * 1000:g} ms")
PY

if [ "${FILL:-0}" != "0" ]; then
  echo "== filling the verdict cache with distinct digests for ${FILL_DURATION:-90s}"
  cat > fill.lua <<'LUA'
local f = io.open("review.json", "r"); local base = f:read("*a"); f:close()
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local hex = "0123456789abcdef"
wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
request = function()
  local t = {}
  for i = 1, 64 do local n = math.random(16); t[i] = hex:sub(n, n) end
  local body = base:gsub("/hello:v1", "/hello@sha256:" .. table.concat(t))
  return wrk.format(nil, nil, nil, body)
end
LUA
  kill "$wpid"; wait "$wpid" 2>/dev/null || true
  NV2_LOG=warn "$nv2" webhook --listen "127.0.0.1:$wport" --tls-cert-file tls.crt --tls-key-file tls.key --trust-dir trust \
    --insecure-registry "$reg" --failure-cache-ttl 1h 2>webhook.log & wpid=$!; pids+=($wpid)
  for _ in $(seq 100); do curl -sf --cacert tls.crt "https://localhost:$wport/readyz" >/dev/null && break; sleep 0.1; done
  echo "RSS idle (fresh process): $(rss)"
  wrk -t2 -c16 -d"${FILL_DURATION:-90s}" -s fill.lua "https://localhost:$wport/validate" | grep -E "Requests/sec"
  n=$(curl -s --cacert tls.crt "https://localhost:$wport/metrics" | awk '/^nv2_cached_verdicts / {print $2}')
  echo "cached verdicts: $n, RSS: $(rss)"
fi
