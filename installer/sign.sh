#!/usr/bin/env bash
# Signs Windows executables in place with Authenticode (osslsigncode, Debian's package of the
# same name; scripts/setup-deps.sh installs it), SHA-256 and an RFC 3161 time stamp when
# MAILPULL_SIGN_TIMESTAMP_URL is set.
#
#   bash installer/sign.sh FILE.exe...
#
# The certificate and its key: a PKCS#12 file (.pfx/.p12) named by MAILPULL_SIGN_PFX; its
# password in MAILPULL_SIGN_PASSWORD or, better (no password in the environment of every
# child process), in the file named by MAILPULL_SIGN_PASSWORD_FILE. installer/build.sh calls
# this for the programs, the uninstaller and the setup when MAILPULL_SIGN_PFX is set;
# without it the build stays unsigned (development).
set -euo pipefail

die() { echo "installer/sign.sh: error: $*" >&2; exit 1; }

[ "$#" -gt 0 ] || die "usage: installer/sign.sh FILE.exe..."
[ -n "${MAILPULL_SIGN_PFX:-}" ] || die "MAILPULL_SIGN_PFX is not set (the .pfx certificate to sign with)"
[ -f "$MAILPULL_SIGN_PFX" ] || die "MAILPULL_SIGN_PFX: no file $MAILPULL_SIGN_PFX"
command -v osslsigncode >/dev/null || die "osslsigncode not found: apt-get install osslsigncode"

pass_args=()
if [ -n "${MAILPULL_SIGN_PASSWORD_FILE:-}" ]; then
    [ -f "$MAILPULL_SIGN_PASSWORD_FILE" ] || die "MAILPULL_SIGN_PASSWORD_FILE: no file $MAILPULL_SIGN_PASSWORD_FILE"
    pass_args=(-readpass "$MAILPULL_SIGN_PASSWORD_FILE")
elif [ -n "${MAILPULL_SIGN_PASSWORD:-}" ]; then
    pass_args=(-pass "$MAILPULL_SIGN_PASSWORD")
fi
ts_args=()
if [ -n "${MAILPULL_SIGN_TIMESTAMP_URL:-}" ]; then
    ts_args=(-ts "$MAILPULL_SIGN_TIMESTAMP_URL")
fi

for file in "$@"; do
    [ -f "$file" ] || die "no file $file"
    signed="$file.signed"
    rm -f "$signed"
    osslsigncode sign -pkcs12 "$MAILPULL_SIGN_PFX" "${pass_args[@]}" -h sha256 \
        -n "Mailpull" -i "https://github.com/mailpull/mailpull" "${ts_args[@]}" \
        -in "$file" -out "$signed" >/dev/null || { rm -f "$signed"; die "cannot sign $file"; }
    mv -f "$signed" "$file"
    echo "installer/sign.sh: signed $file" >&2
done
