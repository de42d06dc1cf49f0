#!/usr/bin/env bash
# The alert delay figure: purchases made in the card simulator (over its HTTP API) at random
# moments, and the time until each one's alert is in the WeChat simulator's outbox, through a
# release build of the platform polling the card system's transaction feed. Prints p50/p90/p99
# and the configured poll interval (alerts.poll_interval_ms of config/demo.toml), with each
# figure as a ratio to it: the delay is bounded by about one interval. Not a pass/fail test.
#
#   scripts/alert-latency.sh                      # 300 purchases, the demo's poll interval
#   ALERT_LATENCY_N=1000 ALERT_POLL_MS=250 scripts/alert-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --locked --test api alert_latency -- --ignored --nocapture
