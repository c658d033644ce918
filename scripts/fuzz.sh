#!/usr/bin/env bash
# Builds Mailpull's fuzz targets (fuzz/: cargo-fuzz and libFuzzer) and runs each one for a
# while. Stable Rust runs them with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags).
#
#   bash scripts/fuzz.sh                 # every target for 20 s (what scripts/test.sh runs)
#   bash scripts/fuzz.sh 14400 routing   # one target for four hours
#   bash scripts/fuzz.sh 0               # build only
#
# MAILPULL_FUZZ_FLAGS adds cargo-fuzz build flags: scripts/test.sh uses "--dev -s none" (a
# debug build without AddressSanitizer: about 1.5 minutes cold instead of 11 here); the
# default is cargo-fuzz's release build with AddressSanitizer, for long runs.
#
# The working corpus grows in fuzz/corpus/TARGET (not committed), seeded from fuzz/seeds/TARGET.
# A failing input lands in fuzz/artifacts/TARGET/: fix the bug, then copy the input to
# fuzz/regressions/TARGET/ so `cargo test` (tests/fuzz_regressions.rs) keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${MAILPULL_FUZZ_SECONDS:-20}}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(pop3_reply pop3_parsers routing ipc_frame config import)

if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# Its own target dir beside the main one (other RUSTFLAGS: sanitizer, coverage).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"

read -r -a flags <<<"${MAILPULL_FUZZ_FLAGS:-}"

echo "fuzz: building ${targets[*]} ${flags[*]}"
cargo fuzz build "${flags[@]}"

[ "$seconds" -gt 0 ] || exit 0
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    echo "fuzz: $target for ${seconds}s"
    cargo fuzz run "${flags[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        2>"fuzz/$target.log" || {
        tail -n 60 "fuzz/$target.log"
        echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    }
    grep -E "stat::number_of_executed_units|stat::new_units_added" "fuzz/$target.log" || true
done
