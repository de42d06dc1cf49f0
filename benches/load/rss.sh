#!/usr/bin/env bash
# Memory of `onecard demo` (shipped config, see onecard.sh) after MESSAGES messages from a pool
# of USERS openids, each message sent once, and again after the idle timeout: what 100,000 users
# active in the last 5 minutes cost, and what they cost once they have gone quiet.
#   usage: benches/load/rss.sh   env: USERS (100000), MESSAGES (300000), MODE (safe),
#          REPLY_WAIT (seconds until the middle reading: 60, past the reply window and a sweep),
#          IDLE_WAIT (seconds until the last reading: sessions.idle_secs + 40)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$root/benches/load/harness}
work=${BENCH_WORK:-/tmp/onecard-bench}
users=${USERS:-100000} messages=${MESSAGES:-300000} mode=${MODE:-safe}
mkdir -p "$work"
command -v wrk >/dev/null && python3 -c 'import wechatpy' 2>/dev/null || bash "$bench/install.sh"
. "$root/benches/load/onecard.sh"
[ -n "${ONECARD_BIN:-}" ] || (cd "$root" && cargo build --release --locked -q)
trap 'stop_onecard || true' EXIT
python3 "$bench/gen_corpus.py" --mode "$mode" --n "$messages" --users "$users" --out "$work/rss.txt" \
  --token benchtoken --appid wxbench0000000001 --aeskey abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
distinct=$(cut -f1 "$work/rss.txt.expect" | sort -u | wc -l)
start_onecard
echo "machine: $(uptime | sed 's/.*load/load/')"
echo "RSS at start: $(rss_mib) MiB"
# wrk's main thread sleeps for the whole -d even after once.lua has stopped sending, so the
# server's own count of answered callbacks says when every message has been handled
BENCH_DIR=$bench CORPUS=$work/rss.txt taskset -c 1 wrk -t1 -c32 -d600s --timeout 10s \
  -s "$root/benches/load/once.lua" "http://127.0.0.1:$port" >"$work/rss-wrk.log" 2>&1 &
wrk_pid=$!
started=$SECONDS
last=-1 still=0
while [ "$still" -lt 6 ] && kill -0 "$wrk_pid" 2>/dev/null; do # until no answer for 3 s
  sleep 0.5
  now=$(onecard_metric onecard_callback_requests_total)
  if [ "$now" -gt 0 ] && [ "$now" -eq "$last" ]; then still=$((still + 1)); else still=0; fi
  last=$now
done
echo "answered: $last callbacks in $((SECONDS - started - 3)) s"
kill "$wrk_pid" 2>/dev/null || true
# the dedup gauges are set by the 30 s housekeeping sweep, so they lag by up to 30 s
live() { echo "sessions_live=$(onecard_metric onecard_sessions_live) dedup_keys=$(onecard_metric onecard_callback_dedup_entries) dedup_replies=$(onecard_metric onecard_callback_dedup_live_entries) replay_pairs=$(onecard_metric onecard_wechat_replay_cache_entries)"; }
echo "RSS after $messages messages from $distinct distinct users (pool $users): $(rss_mib) MiB ($(live))"
done_at=$SECONDS
# A school's 100,000 users spread their messages over minutes, not seconds: this reading is the
# burst's users once their replies are past WeChat's retries (sessions.dedup_reply_secs, 20 s,
# applied by the next sweep) but still inside the 5-minute dedup window.
reply_wait=${REPLY_WAIT:-60}
sleep "$reply_wait"
echo "RSS ${reply_wait}s later (replies past the retry window, keys kept): $(rss_mib) MiB ($(live))"
wait_s=${IDLE_WAIT:-$(( $(grep -E '^idle_secs' "$root/config/demo.toml" | tr -dc 0-9) + 40 ))}
sleep $(( wait_s > SECONDS - done_at ? wait_s - (SECONDS - done_at) : 0 ))
echo "RSS ${wait_s}s later (idle timeout and dedup window passed): $(rss_mib) MiB ($(live))"
