#!/usr/bin/env bash
# Callback throughput of `onecard demo` against the peer frameworks and the do-nothing actix
# ceiling, in one run, with benches/load/harness (its README explains the harness), at each user
# count of USERS_LIST; then onecard's p99 at half of the peak it just reached. Every server runs
# pinned to CPU 0, wrk to CPU 1. onecard runs its shipped config (benches/load/onecard.sh says
# what the harness changes) and every sampled reply is checked against rules.json (--strict).
# Prints a table per user count and the same-run ratios; compare ratios only, never absolutes.
#   usage: benches/load/run.sh   env: USERS_LIST ("40000 200000"), MODE (safe), DURATION (8),
#                                     N (600000: above what one run sends, so no MsgId repeats)
#   BEFORE_BIN=/path/to/an/older/onecard adds that build to the same run (before/after figures);
#   BEFORE_ROOT=/a/checkout/of/that/commit gives it the config it was built for (default: this one).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/benches/load/harness}
work=${BENCH_WORK:-/tmp/onecard-bench}
export BENCH_WORK=$work N=${N:-600000} DURATION=${DURATION:-8}
mode=${MODE:-safe} conns=${CONNS:-32}
mkdir -p "$work"
command -v wrk >/dev/null && python3 -c 'import wechatpy' 2>/dev/null && [ -d "$work/node/node_modules" ] || bash "$bench/install.sh"
. "$root/benches/load/onecard.sh"
[ -n "${ONECARD_BIN:-}" ] || (cd "$root" && cargo build --release --locked -q)
cargo build --release --locked -q --manifest-path "$bench/ceiling/Cargo.toml" --target-dir "$work/ceiling-target"
ceiling_bin=$work/ceiling-target/release/$(cd "$bench/ceiling" && cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["name"])')
cport=$(free_port)
taskset -c 0 "$ceiling_bin" "$cport" >/dev/null 2>&1 &
ceiling_pid=$!
trap 'kill $ceiling_pid 2>/dev/null; stop_onecard || true' EXIT
export WX_TOKEN=benchtoken WX_APPID=wxbench0000000001 WX_AESKEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG

field() { echo "$2" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
summary=()
for users in ${USERS_LIST:-40000 200000}; do
  export USERS=$users
  echo "== $users distinct users, $mode mode; machine: $(uptime | sed 's/.*load/load/')"
  ceiling=$(NOCHECK=1 "$bench/run.sh" "http://127.0.0.1:$cport" "$mode" 2>&1 | tail -n1)
  peers=$("$bench/peers.sh" "$mode" 2>&1 | grep 'RESULT' || true)
  before=""
  if [ -n "${BEFORE_BIN:-}" ]; then
    ONECARD_BIN=$BEFORE_BIN ONECARD_ROOT=${BEFORE_ROOT:-$root} start_onecard
    before=$("$bench/run.sh" "http://127.0.0.1:$port" "$mode" --strict 2>&1 | tail -n1)
    before="$before rate_limited=$(onecard_metric onecard_router_rate_limited_total) rss_mib=$(rss_mib)"
    stop_onecard
  fi
  start_onecard
  onecard=$("$bench/run.sh" "http://127.0.0.1:$port" "$mode" --strict 2>&1 | tail -n1)
  peak=$(field rps "$onecard"); peak=${peak%.*}
  limited=$(onecard_metric onecard_router_rate_limited_total)
  # about half of the peak: each connection sends one request per (latency + pause). wrk's
  # pause is whole milliseconds, so the connections are as many as make it a 10 ms cycle; the
  # latency is taken as the full-load median just measured
  p50=$(field p50_ms "$onecard")
  python3 "$bench/gen_corpus.py" --mode "$mode" --n 200000 --users "$users" --out "$work/half.txt" \
    --token "$WX_TOKEN" --appid "$WX_APPID" --aeskey "$WX_AESKEY"
  half_conns=$(python3 -c "print(max(1, round(${peak:-2} / 2.0 * 0.010)))")
  delay=$(python3 -c "print(max(1, round(10 - ${p50:-0.3})))")
  half=$(BENCH_DIR=$bench DELAY_MS=$delay CORPUS=$work/half.txt taskset -c 1 wrk -t1 -c"$half_conns" \
    -d"${DURATION}s" --timeout 10s -s "$root/benches/load/paced.lua" "http://127.0.0.1:$port" | grep RESULT || true)
  rss=$(rss_mib)
  stop_onecard
  printf '%-24s %s\n' "actix ceiling" "$ceiling"
  echo "$peers"
  [ -n "$before" ] && printf '%-24s %s\n' "onecard (BEFORE_BIN)" "$before"
  printf '%-24s %s rate_limited=%s rss_mib=%s\n' "onecard" "$onecard" "$limited" "$rss"
  printf '%-24s %s\n' "onecard at ~half peak" "$half"
  best=0; best_name=none
  while read -r l; do
    r=$(field rps "$l"); r=${r%.*}
    [ -n "$r" ] && [ "$r" -gt "$best" ] && { best=$r; best_name=$(echo "${l%%RESULT*}" | xargs); }
  done <<<"$peers"
  ceil=$(field rps "$ceiling"); ceil=${ceil%.*}
  line=$(USERS=$users PEAK=${peak:-0} BEST=$best BEST_NAME="$best_name" CEIL=${ceil:-0} \
    HALF_P99=$(field p99_ms "$half") RSS=$rss BEFORE=$(field rps "$before") python3 -c '
import os
e = os.environ
p, b, c = float(e["PEAK"]), float(e["BEST"]), float(e["CEIL"])
users, best_name, half_p99, rss = e["USERS"], e["BEST_NAME"], e["HALF_P99"], e["RSS"]
line = (f"{users} users: onecard {p:.0f} req/s = {p / b if b else 0:.1f}x the best peer "
        f"({best_name} {b:.0f}), {100 * p / c if c else 0:.0f}% of the ceiling ({c:.0f}); "
        f"p99 at ~half peak {half_p99} ms; RSS after the run {rss} MiB")
if e.get("BEFORE"):
    line += "; %.2fx the BEFORE_BIN build" % (p / float(e["BEFORE"]))
print(line)')
  summary+=("$line")
  echo "$line"
done
echo "== summary (ratios within this run; machine: $(uptime | sed 's/.*load/load/'))"
printf '%s\n' "${summary[@]}"
