# nv2 — the two commands the README promises, and a few helpers.
.PHONY: demo test lint bench build

CARGO ?= cargo

# The release binary, linked statically (static-pie, glibc): no dynamic
# loader work at start (~0.4 ms of a local `nv2 verify`), and the binary the
# release image ships. Only the final link differs from `cargo build --release`.
build:
	$(CARGO) rustc --release --locked --bin nv2 -- -C target-feature=+crt-static

# The seed scenarios end to end on a local registry, then the webhook.
demo: build
	bash scripts/demo.sh

# Every test: lint, the Helm chart's offline checks, then unit and integration
# tests (real binary, openssl, umoci, skopeo, docker-registry, HTTPS webhook).
test:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	bash scripts/check-chart.sh
	$(CARGO) test --locked --lib --bins --tests

bench:
	$(CARGO) bench --locked
