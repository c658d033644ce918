#!/usr/bin/env bash
# Builds the mailpull Debian package with cargo-deb (installed first if missing) and prints
# its path. The package metadata lives in worker/Cargo.toml ([package.metadata.deb]); the
# unit and the maintainer scripts in installer/linux/. Honours CARGO_TARGET_DIR.
#
#   bash installer/linux/build-deb.sh         then: dpkg -i <printed path>
#   bash installer/linux/build-deb.sh --dev   the debug build instead (for tests: no release
#                                             build; cargo-deb warns, never ship it)
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DEB_VERSION=3.8.0
die() { echo "build-deb.sh: error: $*" >&2; exit 1; }

if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "build-deb.sh: installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION" >&2 \
        || die "cargo install cargo-deb failed"
fi

target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
outdir="$target_dir/debian"
rm -f "$outdir"/mailpull_*.deb
if [ "${1:-}" = --dev ]; then
    cargo build --locked -p mailpull-worker >&2 || die "cargo build failed"
    cargo deb --locked --strip -p mailpull-worker --profile dev --no-build --output "$outdir" >&2 \
        || die "cargo deb failed"
else
    cargo deb --locked --strip -p mailpull-worker --output "$outdir" >&2 || die "cargo deb failed"
fi
deb=$(ls "$outdir"/mailpull_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "cargo deb wrote no package into $outdir"
echo "$deb"
