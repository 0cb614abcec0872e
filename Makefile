# nv2 — the two commands the README promises, and a few helpers.
.PHONY: demo test lint bench build

CARGO ?= cargo

build:
	$(CARGO) build --release --locked

# The seed scenarios end to end on a local registry, then the webhook.
demo: build
	bash scripts/demo.sh

# Every test: unit, integration (real binary, openssl, umoci, registry), lint.
test:
	$(CARGO) test --locked
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) fmt --check

bench:
	$(CARGO) bench --locked
