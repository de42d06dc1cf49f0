#!/usr/bin/env bash
# Callback throughput and latency of `onecard demo` against the peer frameworks and the
# do-nothing actix ceiling, in one run, with ../shared/bench (its README explains the harness).
# Every server runs pinned to CPU 0, wrk to CPU 1. Prints one table; compare ratios only.
#   usage: benches/load/run.sh [safe]     env: DURATION (8), N (400000), USERS (10000)
# An EncodingAESKey means safe mode, which refuses plaintext; for the plaintext figures run
#   ONECARD__WECHAT__ENCODING_AES_KEY= benches/load/run.sh plain
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
work=${BENCH_WORK:-/tmp/onecard-bench}
export N=${N:-400000} USERS=${USERS:-10000} DURATION=${DURATION:-8}
modes=${*:-safe}
mkdir -p "$work"
command -v wrk >/dev/null && python3 -c 'import wechatpy' 2>/dev/null || bash "$bench/install.sh"

# onecard, with the harness's bot and credentials
rm -rf "$work/rules" "$work/data"; mkdir -p "$work/rules"
cp "$root/benches/load/rules/bench.toml" "$root"/config/rules/*messages.toml "$work/rules/"
(cd "$root" && cargo build --release --locked -q)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
ONECARD__SERVER__LISTEN=127.0.0.1:$port RUST_LOG=warn taskset -c 0 "$root/target/release/onecard" demo --config "$root/benches/load/bench.toml" >"$work/onecard.log" 2>&1 &
onecard_pid=$!
# the ceiling: actix-web answering a fixed reply, no protocol work
cargo build --release --locked -q --manifest-path "$bench/ceiling/Cargo.toml" --target-dir "$work/ceiling-target"
cport=$(free_port)
taskset -c 0 "$work/ceiling-target/release/$(cd "$bench/ceiling" && cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["name"])')" "$cport" >/dev/null 2>&1 &
ceiling_pid=$!
trap 'kill $onecard_pid $ceiling_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done

export WX_TOKEN=benchtoken WX_APPID=wxbench0000000001 WX_AESKEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
ceiling_rows=()
for m in $modes; do
  ceiling_rows+=("$(printf '%-22s %s' "actix ceiling" "$(NOCHECK=1 "$bench/run.sh" "http://127.0.0.1:$cport" "$m" 2>&1 | tail -n1)")")
done
EXTRA_URL=http://127.0.0.1:$port EXTRA_NAME=onecard "$bench/peers.sh" $modes
printf '%s\n' "${ceiling_rows[@]}"
