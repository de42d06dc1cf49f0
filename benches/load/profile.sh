#!/usr/bin/env bash
# Where `onecard demo` (shipped config, see onecard.sh) spends its CPU under the run.sh load:
# perf samples the server process for the whole wrk run; prints the top symbols (self time).
#   usage: benches/load/profile.sh   env: USERS (200000), MODE (safe), DURATION (8), TOP (30)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/benches/load/harness}
work=${BENCH_WORK:-/tmp/onecard-bench}
users=${USERS:-200000} mode=${MODE:-safe} duration=${DURATION:-8}
mkdir -p "$work"
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)"; exit 1; }
. "$root/benches/load/onecard.sh"
[ -n "${ONECARD_BIN:-}" ] || (cd "$root" && cargo build --release --locked -q)
trap 'stop_onecard || true' EXIT
python3 "$bench/gen_corpus.py" --mode "$mode" --n $((duration * 60000)) --users "$users" --out "$work/profile.txt" \
  --token benchtoken --appid wxbench0000000001 --aeskey abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
start_onecard
echo "machine: $(uptime | sed 's/.*load/load/')"
perf record -q -F 499 -o "$work/perf.data" -p "$onecard_pid" -- sleep "$duration" 2>/dev/null &
perf_pid=$!
BENCH_DIR=$bench CORPUS=$work/profile.txt taskset -c 1 wrk -t1 -c32 -d"${duration}s" --timeout 10s \
  -s "$bench/load.lua" "http://127.0.0.1:$port" | grep RESULT
wait "$perf_pid" || true
perf report -i "$work/perf.data" --no-children --sort dso,symbol --percent-limit 0.7 --stdio 2>/dev/null \
  | grep -E '^ +[0-9]' | head -n "${TOP:-30}"
