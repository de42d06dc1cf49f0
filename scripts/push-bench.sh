#!/usr/bin/env bash
# The news-push throughput figure: 2,000 template messages through the real app and the WeChat
# simulator over loopback, (1) with no rate limit, (2) against a 200/s limit while sending
# unpaced (45009 back-offs), (3) paced at the limit. Prints messages/s and the ratios to the
# limit; a figure for docs/PERFORMANCE.md, not a pass/fail test.
#
#   scripts/push-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --locked --test api push_throughput -- --ignored --nocapture
