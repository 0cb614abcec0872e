#!/usr/bin/env bash
# Wall time of `nv2 verify` on a local file, including process start, with a
# baseline (cat of the same three files: process start and reads) timed in the same run.
# Prints medians and their ratio. Needs hyperfine, openssl, umoci.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nv2="$root/target/release/nv2"
(cd "$root" && make -s build >/dev/null)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; cd "$work"
umoci init --layout hello >/dev/null && umoci new --image hello:dev >/dev/null
"$nv2" keygen --cn registry.example.com -k key.pem -c cert.pem 2>/dev/null
"$nv2" manifest oci-layout:./hello:dev > manifest.json
"$nv2" sign -m x509 -k key.pem -o hello-world.nv2 file:manifest.json >/dev/null
hyperfine -N --warmup 20 --runs "${RUNS:-300}" --export-json times.json \
  "$nv2 verify -f hello-world.nv2 -c cert.pem file:manifest.json" \
  "cat hello-world.nv2 cert.pem manifest.json" >/dev/null
python3 - <<'PY'
import json
r = json.load(open("times.json"))["results"]
nv2, base = r[0]["median"] * 1000, r[1]["median"] * 1000
print(f"nv2 verify (local file, kid, RS256): median {nv2:.2f} ms")
print(f"baseline cat of the same files:      median {base:.2f} ms")
print(f"ratio nv2/baseline: {nv2 / base:.2f}")
PY
