#!/usr/bin/env bash
# Run every fuzz target (fuzz/fuzz_targets) for a bounded time each, on the stable toolchain.
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   scripts/fuzz.sh 10              # every target, 10 s each
#   scripts/fuzz.sh 300 rule_file   # one target, 5 minutes
#
# Stable Rust cannot build the AddressSanitizer that cargo-fuzz injects by default, hence
# `-s none` (coverage-guided, no sanitizer: enough for safe Rust). `-a` keeps debug assertions
# and overflow checks on, so arithmetic that would wrap in release is found too. A crash leaves
# its input in fuzz/artifacts/TARGET/; replay it with `cargo fuzz run -s none -a TARGET FILE`.
# The same properties run briefly on every `cargo test` (tests/api/fuzz_smoke.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# The rule-file target starts from the shipped rule files.
mkdir -p fuzz/corpus/rule_file
for f in config/rules/*.toml; do
    case "$f" in *messages.toml) ;; *) cp "$f" fuzz/corpus/rule_file/ ;; esac
done

failed=()
for target in "${targets[@]}"; do
    echo "== $target: ${seconds} s"
    if ! cargo fuzz run -s none -a "$target" -- -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crash in: ${targets[*]}"
