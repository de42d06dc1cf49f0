#!/usr/bin/env bash
# Requests/s of `onecard demo` answering campus queries from *bound* users: every request goes
# through the card or public-data adapter (signed HTTP) to the simulators served by the same
# process. Platform + simulators pinned to CPU 0, wrk to CPU 1.
#   env: USERS (2000), N (150000), DURATION (8), CONNS (32), CARD_LATENCY_MS (0)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/benches/load/harness}
work=${BENCH_WORK:-/tmp/onecard-bench}
mkdir -p "$work"; rm -rf "$work/bound-data"
(cd "$root" && cargo build --release --locked -q)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$root"
ONECARD__SERVER__LISTEN=127.0.0.1:$port ONECARD__SERVER__DATA_DIR=$work/bound-data \
ONECARD__SERVER__WORKERS=1 ONECARD__RULES__HOT_RELOAD=false \
ONECARD__WECHAT__TOKEN=benchtoken ONECARD__WECHAT__APP_ID=wxbench0000000001 \
ONECARD__WECHAT__ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG \
ONECARD__SIM__WECHAT__APP_ID=wxbench0000000001 \
ONECARD__SESSIONS__USER_BURST=1000000 ONECARD__SESSIONS__USER_PER_MINUTE=1000000 \
ONECARD__SESSIONS__DEDUP_CAPACITY=1000000 \
ONECARD__UPSTREAMS__CARD__RATE_PER_SEC=100000 ONECARD__UPSTREAMS__PUBLIC_DATA__RATE_PER_SEC=100000 \
ONECARD__UPSTREAMS__CARD__CONCURRENCY=256 ONECARD__UPSTREAMS__PUBLIC_DATA__CONCURRENCY=256 ONECARD__SIM__ACCOUNTS=${ACCOUNTS:-8000} \
RUST_LOG=warn taskset -c 0 target/release/onecard demo --config config/demo.toml >"$work/bound.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
if [ "${CARD_LATENCY_MS:-0}" != 0 ]; then
  curl -s -X POST "http://127.0.0.1:$port/sim/faults/card" -d "{\"latency_ms\":$CARD_LATENCY_MS}" >/dev/null
fi
check=$(taskset -c 1 python3 "$root/benches/load/bound.py" "http://127.0.0.1:$port" --users "${USERS:-2000}" --n "${N:-150000}" --out "$work/bound-corpus.txt" | tail -n1)
out=$(CORPUS=$work/bound-corpus.txt taskset -c 1 wrk -t1 -c"${CONNS:-32}" -d"${DURATION:-8}s" --timeout 10s -s "$bench/load.lua" "http://127.0.0.1:$port" 2>&1)
echo "$out" | grep '^RESULT' | sed "s/\$/ mode=safe bound_users=${USERS:-2000} card_latency_ms=${CARD_LATENCY_MS:-0} check=$check/"
