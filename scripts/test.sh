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

step "layout: file sizes, module cycles, the module maps (scripts/check-layout.py)"
python3 scripts/check-layout.py

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo clippy for Windows (the service and the named pipe are cfg(windows))"
rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
cargo clippy --target x86_64-pc-windows-gnu -p mailpull-shared -p mailpull-worker --all-targets --locked \
    -- -D warnings

step "build (the end-to-end tests run the worker binary)"
cargo build --workspace --all-targets --locked

step "tests"
# A session keyring of its own gives the keyring tests a real OS backend (keyutils).
export MAILPULL_REQUIRE_KEYRING=1
keyctl session - cargo test --workspace --locked --no-fail-fast

step "fuzz targets: build, then each for ${MAILPULL_FUZZ_SECONDS:-20}s (scripts/fuzz.sh)"
MAILPULL_FUZZ_FLAGS="${MAILPULL_FUZZ_FLAGS:---dev -s none}" bash scripts/fuzz.sh "${MAILPULL_FUZZ_SECONDS:-20}"

step "Windows installer: cross-build, makensis, end-to-end under wine (installer/test-wine.sh)"
bash installer/test-wine.sh

step "Debian package: cargo-deb, contents, dpkg -i, the worker as the unit runs it (installer/linux/test-deb.sh)"
# The package of the debug build made above: checks the packaging without a release build.
MAILPULL_DEB_PROFILE=dev bash installer/linux/test-deb.sh

step "Debian package under a real systemd: boot, start, reboot, upgrade, purge (installer/linux/test-systemd.sh)"
# Reuses the package test-deb.sh built; systemd boots as PID 1 in a systemd-nspawn container.
MAILPULL_DEB_PROFILE=dev bash installer/linux/test-systemd.sh

step "done in $(( $(date +%s) - start ))s"
