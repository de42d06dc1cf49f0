# Sourced by the scripts beside it: starts `onecard demo` the way a school runs it — the shipped
# config/demo.toml (its workers, sessions, limits and caches) — changed only where the harness
# needs it: its credentials and account id, its bot (rules/bench.toml, the peers' rules.json as a
# rule file, default-reply cooldown 0), free ports and a fresh data directory.
# Needs: $root (the repository), $work (scratch dir). Sets: onecard_pid, port, admin_port.
# ONECARD_BIN runs another build (e.g. a copy of an older one, for before/after in one run);
# ONECARD_ROOT is the checkout whose config/ and bot it runs with (an older build may not read
# today's config/demo.toml).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_onecard() { # [extra env assignments...]
  local tree=${ONECARD_ROOT:-$root}
  rm -rf "$work/rules" "$work/data"; mkdir -p "$work/rules"
  cp "$tree/benches/load/rules/bench.toml" "$tree"/config/rules/*messages.toml "$work/rules/"
  port=$(free_port); admin_port=$(free_port)
  (cd "$tree" && exec env \
    ONECARD__SERVER__LISTEN=127.0.0.1:$port \
    ONECARD__SERVER__ADMIN_LISTEN=127.0.0.1:$admin_port \
    ONECARD__SERVER__DATA_DIR="$work/data" \
    ONECARD__RULES__DIR="$work/rules" \
    ONECARD__WECHAT__APP_ID=wxbench0000000001 \
    ONECARD__WECHAT__APP_SECRET=benchsecret \
    ONECARD__WECHAT__TOKEN=benchtoken \
    ONECARD__WECHAT__ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG \
    ONECARD__WECHAT__ORIGINAL_ID=gh_benchmark0001 \
    ONECARD__SIM__WECHAT__APP_ID=wxbench0000000001 \
    ONECARD__SIM__WECHAT__APP_SECRET=benchsecret \
    RUST_LOG=warn "$@" \
    taskset -c 0 "${ONECARD_BIN:-$root/target/release/onecard}" demo --config config/demo.toml >"$work/onecard.log" 2>&1) &
  onecard_pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0; sleep 0.1; done
  echo "onecard did not start:"; cat "$work/onecard.log"; return 1
}

stop_onecard() {
  [ -n "${onecard_pid:-}" ] && kill "$onecard_pid" 2>/dev/null && wait "$onecard_pid" 2>/dev/null
  onecard_pid=
}

# A counter from the admin listener's /metrics (0 when absent).
onecard_metric() { curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s+=$2} END {printf "%d", s}'; }

# Resident memory of the server process, in MiB.
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$onecard_pid/status"; }
