#!/usr/bin/env bash
# Builds Mailpull's Windows installer on Linux (Debian): cross-compiles mailpull-worker.exe and
# mailpull-manager.exe for x86_64-pc-windows-gnu in release and runs makensis on
# installer/mailpull.nsi. Prints the path of Mailpull-Setup-<version>.exe.
#
#   bash installer/build.sh [OUTPUT_DIR]      (default: <target dir>/installer)
#
# Needs: rustup (the target is added if missing), Debian's gcc-mingw-w64-x86-64 and nsis
# (scripts/setup-deps.sh installs them). Honours CARGO_TARGET_DIR.
#
# Signing (Authenticode, installer/sign.sh with osslsigncode): with MAILPULL_SIGN_PFX set to a
# .pfx certificate (password in MAILPULL_SIGN_PASSWORD_FILE or MAILPULL_SIGN_PASSWORD) the
# programs, the uninstaller (NSIS !uninstfinalize) and the setup are signed; without it the
# build is unsigned, for development.
# MAILPULL_PREBUILT_BINDIR=DIR takes mailpull-worker.exe and mailpull-manager.exe from DIR
# instead of building them (CI artefacts; the signing test).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
die() { echo "installer/build.sh: error: $*" >&2; exit 1; }

command -v x86_64-w64-mingw32-gcc >/dev/null \
    || die "x86_64-w64-mingw32-gcc not found: apt-get install gcc-mingw-w64-x86-64"
command -v makensis >/dev/null || die "makensis not found: apt-get install nsis"
if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET" || die "rustup target add $TARGET failed"
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || die "no version in the workspace Cargo.toml"

target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
if [ -n "${MAILPULL_PREBUILT_BINDIR:-}" ]; then
    bindir=$MAILPULL_PREBUILT_BINDIR
else
    cargo build --release --locked --target "$TARGET" -p mailpull-worker -p mailpull-manager
    bindir="$target_dir/$TARGET/release"
fi
sign_args=()
if [ -n "${MAILPULL_SIGN_PFX:-}" ]; then
    command -v osslsigncode >/dev/null || die "osslsigncode not found: apt-get install osslsigncode"
    sign_args=(-DSIGN_COMMAND="bash \"$PWD/installer/sign.sh\"")
fi
outdir=${1:-$target_dir/installer}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
# The release profile keeps line tables for backtraces; the shipped copies are stripped
# (84 MB -> 14 MB for the worker), their icon and version resources stay.
stage="$outdir/bin"
mkdir -p "$stage"
for exe in mailpull-worker.exe mailpull-manager.exe; do
    [ -f "$bindir/$exe" ] || die "$bindir/$exe was not built"
    x86_64-w64-mingw32-strip -o "$stage/$exe" "$bindir/$exe" || die "cannot strip $exe"
    if [ -n "${MAILPULL_SIGN_PFX:-}" ]; then
        bash installer/sign.sh "$stage/$exe" || die "cannot sign $exe"
    fi
done

makensis -V2 -WX -NOCD -DVERSION="$version" -DBINDIR="$stage" -DOUTDIR="$outdir" \
    "${sign_args[@]}" installer/mailpull.nsi >&2 || die "makensis failed"
setup="$outdir/Mailpull-Setup-$version.exe"
[ -f "$setup" ] || die "makensis did not write $setup"
if [ -n "${MAILPULL_SIGN_PFX:-}" ]; then
    bash installer/sign.sh "$setup" || die "cannot sign $setup"
fi
echo "$setup"
