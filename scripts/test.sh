#!/usr/bin/env bash
# Runs every test of Mailpull: formatting, lints, unit tests, the end-to-end suites against
# private Dovecot and Postfix instances. Installs what the tests need first (idempotent;
# Debian, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "==> $* ($(( $(date +%s) - start ))s)"; }

step "dependencies"
bash scripts/setup-deps.sh
for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build (the end-to-end tests run the worker binary)"
cargo build --workspace --all-targets --locked

step "tests"
# A session keyring of its own gives the keyring tests a real OS backend (keyutils).
export MAILPULL_REQUIRE_KEYRING=1
keyctl session - cargo test --workspace --locked --no-fail-fast

step "fuzz targets: build, then each for ${MAILPULL_FUZZ_SECONDS:-20}s (scripts/fuzz.sh)"
MAILPULL_FUZZ_FLAGS="${MAILPULL_FUZZ_FLAGS:---dev -s none}" bash scripts/fuzz.sh "${MAILPULL_FUZZ_SECONDS:-20}"

step "done in $(( $(date +%s) - start ))s"
