#!/usr/bin/env bash
# Fault soak (issue: security): NV2_SOAK_REVIEWS AdmissionReviews (default
# 10,000) over HTTPS against the release webhook, its registry behind a proxy
# injecting random delays (20 % up to 2.5 s), 503 (5 %), 429 + Retry-After
# (5 %), connection resets (3 %) and truncated bodies (3 %), one review in
# three an attack. Fails on any false allow, any review slower than the
# deadline + 1.5 s, /healthz p99 >= 50 ms or RSS >= 100 MiB; prints figures.
# make test runs the same test with 400 reviews (debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
NV2_SOAK_REVIEWS="${NV2_SOAK_REVIEWS:-10000}" \
  cargo test --release --locked --test soak -- --nocapture 2>&1 | grep -E '^soak:|test result|panicked|admitted'
