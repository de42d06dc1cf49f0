#!/usr/bin/env bash
# p99 of `onecard demo` at about half of its peak rate (safe mode, ../shared/bench corpus).
#   usage: benches/load/half.sh PEAK_RPS      env: CONNS (32), DURATION (8)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
work=${BENCH_WORK:-/tmp/onecard-bench}
peak=$1 conns=${CONNS:-32}
rm -rf "$work/rules" "$work/data"; mkdir -p "$work/rules"
cp "$root/benches/load/rules/bench.toml" "$root"/config/rules/*messages.toml "$work/rules/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ONECARD__SERVER__LISTEN=127.0.0.1:$port RUST_LOG=warn taskset -c 0 "$root/target/release/onecard" demo --config "$root/benches/load/bench.toml" >/dev/null 2>&1 &
pid=$!; trap 'kill $pid 2>/dev/null || true' EXIT
python3 "$bench/gen_corpus.py" --mode safe --n 200000 --users 10000 --out "$work/half.txt"
sleep 0.5
# each connection: one request per (latency + delay); aim at peak/2 in total
delay=$(python3 -c "print(max(0, round($conns / ($peak / 2.0) * 1000 - 0.3, 2)))")
BENCH_DIR=$bench DELAY_MS=$delay CORPUS=$work/half.txt taskset -c 1 wrk -t1 -c"$conns" -d"${DURATION:-8}s" --timeout 10s -s "$root/benches/load/paced.lua" "http://127.0.0.1:$port" | grep RESULT | sed "s/\$/ target_rps=$((peak / 2)) delay_ms=$delay/"
