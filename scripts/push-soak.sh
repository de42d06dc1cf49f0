#!/usr/bin/env bash
# The full-size news-push crash run: a template push to 5,000 bound users through a real
# `onecard serve`, SIGKILLed once half of them have it, started again, and every user counted
# in the WeChat simulator (its own `onecard sim` process) as having received it exactly once.
# The normal `cargo test` runs the same scenario with 600 users; this one is a release build.
#
#   scripts/push-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --locked --test api push_to_5000_users_killed_halfway -- --ignored --nocapture
