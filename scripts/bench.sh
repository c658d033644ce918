#!/usr/bin/env bash
# Throughput benchmark of Mailpull against fetchmail: builds the worker and the benchmark in
# release mode and runs it. Arguments go to the benchmark (try --help); for example
#   scripts/bench.sh --accounts 60 --messages 30 --protocol pop3 --json bench.json
# With --cluster first, the benchmark of several workers on the shared state (PostgreSQL)
# instead (mailpull-cluster-bench; try scripts/bench.sh --cluster --help), for example
#   scripts/bench.sh --cluster --profiles 30 --messages 60 --idle-profiles 10000
# Needs root and the packages of scripts/setup-deps.sh (Dovecot, Postfix's smtp-sink, fetchmail,
# PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=mailpull-bench
if [ "${1:-}" = "--cluster" ]; then
    bench=mailpull-cluster-bench
    shift
fi
cargo build --release -p mailpull-worker -p mailpull-tests --bin "$bench" --bin mailpull-worker
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[ -n "$target" ] || { echo "bench.sh: cannot find cargo's target directory" >&2; exit 1; }
export MAILPULL_WORKER_BIN="$target/release/mailpull-worker"
exec "$target/release/$bench" "$@"
