#!/usr/bin/env bash
# Median wall time of a cold `nv2 verify` against a loopback docker-registry
# (each run is a new process: no cache), with its request count from the
# registry's access log, and a baseline (curl fetching the same manifest,
# one round trip) timed in the same hyperfine run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nv2="$root/target/release/nv2"
[ -x "$nv2" ] || (cd "$root" && cargo build --release --locked)
work="$(mktemp -d)"; pid=""
trap '[ -n "$pid" ] && kill $pid; rm -rf "$work"' EXIT; cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > registry.yml <<YML
version: 0.1
log: {level: info, formatter: text}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve registry.yml >registry.log 2>&1 & pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
umoci init --layout hello >/dev/null && umoci new --image hello:dev >/dev/null
"$nv2" keygen --cn localhost -k key.pem -c cert.pem 2>/dev/null
"$nv2" sign -m x509 -k key.pem -o s.nv2 oci-layout:./hello:dev >/dev/null
skopeo copy --quiet --preserve-digests --dest-tls-verify=false oci:./hello:dev "docker://localhost:$port/hello:v1"
"$nv2" push s.nv2 --insecure --link "docker://localhost:$port/hello:v1" "docker://localhost:$port/hello" >/dev/null 2>&1
before=$(grep -c '"GET /v2/hello' registry.log || true)
"$nv2" verify -c cert.pem --insecure "docker://localhost:$port/hello:v1" >/dev/null
after=$(grep -c '"GET /v2/hello' registry.log || true)
hyperfine -N --warmup 10 --runs "${RUNS:-200}" --export-json times.json \
  "$nv2 verify -c cert.pem --insecure docker://localhost:$port/hello:v1" \
  "curl -s -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://localhost:$port/v2/hello/manifests/v1" >/dev/null
python3 - "$((after - before))" <<'PY'
import json, sys
r = json.load(open("times.json"))["results"]
nv2, base = r[0]["median"] * 1000, r[1]["median"] * 1000
print(f"cold nv2 verify (discover + fetch + verify): median {nv2:.2f} ms, {sys.argv[1]} registry requests")
print(f"baseline curl of the manifest (1 request):    median {base:.2f} ms")
print(f"ratio nv2/baseline: {nv2 / base:.2f}")
PY
