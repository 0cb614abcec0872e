#!/usr/bin/env bash
# make demo: the seed's scenarios end to end, from a fresh checkout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nv2="$root/target/release/nv2"

need=()
for tool in openssl umoci; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
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
