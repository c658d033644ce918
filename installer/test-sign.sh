#!/usr/bin/env bash
# Test of the Authenticode signing in installer/build.sh (installer/sign.sh, osslsigncode),
# without a cargo build: two tiny mingw-built programs stand in for the worker and the manager
# (MAILPULL_PREBUILT_BINDIR). A throw-away self-signed code-signing certificate is made here;
# then
#   1. a build with MAILPULL_SIGN_PFX + MAILPULL_SIGN_PASSWORD_FILE signs both programs, the
#      uninstaller inside the setup and the setup: `osslsigncode verify -CAfile` (the test
#      certificate as the trusted root) accepts each, with our certificate's subject;
#   2. a setup changed by one byte after signing fails verification (the signature covers it);
#   3. without a certificate the build is unsigned (development builds stay possible).
#
#   bash installer/test-sign.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-sign: FAIL: $*" >&2; exit 1; }
say() { echo "test-sign: $*"; }
command -v osslsigncode >/dev/null || fail "osslsigncode not found: scripts/setup-deps.sh installs it"
command -v 7z >/dev/null || fail "7z not found: apt-get install p7zip-full"

work=$(mktemp -d /tmp/mailpull-sign.XXXXXX)
trap 'rm -rf "$work"' EXIT

say "a throw-away self-signed code-signing certificate"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
    -subj "/CN=Mailpull test signing" -addext "extendedKeyUsage=codeSigning" 2>/dev/null \
    || fail "openssl req failed"
printf 'throwaway-pfx-password\n' >"$work/pass.txt"
openssl pkcs12 -export -inkey "$work/key.pem" -in "$work/cert.pem" -out "$work/cert.pfx" \
    -passout "file:$work/pass.txt" || fail "openssl pkcs12 failed"

say "two tiny programs in place of the worker and the manager"
mkdir -p "$work/bin"
printf 'int main(void) { return 0; }\n' >"$work/hello.c"
for exe in mailpull-worker.exe mailpull-manager.exe; do
    x86_64-w64-mingw32-gcc -O2 -o "$work/bin/$exe" "$work/hello.c" || fail "mingw gcc failed"
done

# Verifies FILE against the test certificate; its output must name our subject.
verify() {
    local out
    out=$(osslsigncode verify -CAfile "$work/cert.pem" -in "$1" 2>&1) \
        || { echo "$out"; fail "$(basename "$1") does not verify"; }
    grep -q 'Signature verification: ok' <<<"$out" || { echo "$out"; fail "$(basename "$1"): no 'Signature verification: ok'"; }
    grep -q 'CN=Mailpull test signing' <<<"$out" || { echo "$out"; fail "$(basename "$1") is not signed with the test certificate"; }
}

say "1. a signed build: programs, uninstaller and setup carry a valid signature"
setup=$(MAILPULL_PREBUILT_BINDIR="$work/bin" MAILPULL_SIGN_PFX="$work/cert.pfx" \
    MAILPULL_SIGN_PASSWORD_FILE="$work/pass.txt" bash installer/build.sh "$work/signed") \
    || fail "installer/build.sh failed with a certificate"
verify "$setup"
mkdir -p "$work/extracted"
7z x -y -o"$work/extracted" "$setup" >/dev/null || fail "7z could not unpack the setup"
for exe in mailpull-worker.exe mailpull-manager.exe; do
    found=$(find "$work/extracted" -name "$exe" | head -n 1)
    [ -n "$found" ] || fail "$exe is not in the setup"
    verify "$found"
done
uninstaller=$(find "$work/extracted" -iname 'uninstall*.exe' | head -n 1)
[ -n "$uninstaller" ] || { find "$work/extracted"; fail "no uninstaller in the setup"; }
verify "$uninstaller"

say "2. a byte changed after signing breaks the signature"
cp "$setup" "$work/tampered.exe"
size=$(stat -c %s "$work/tampered.exe")
printf '\x00' | dd of="$work/tampered.exe" bs=1 seek=$(( size / 2 )) conv=notrunc status=none
orig=$(dd if="$setup" bs=1 skip=$(( size / 2 )) count=1 status=none | od -An -tx1 | tr -d ' ')
[ "$orig" != 00 ] || printf '\x01' | dd of="$work/tampered.exe" bs=1 seek=$(( size / 2 )) conv=notrunc status=none
if osslsigncode verify -CAfile "$work/cert.pem" -in "$work/tampered.exe" >/dev/null 2>&1; then
    fail "a changed setup still verifies"
fi

say "3. without a certificate the build is unsigned"
setup=$(MAILPULL_PREBUILT_BINDIR="$work/bin" bash installer/build.sh "$work/unsigned") \
    || fail "installer/build.sh failed without a certificate"
if osslsigncode verify -CAfile "$work/cert.pem" -in "$setup" >/dev/null 2>&1; then
    fail "an unsigned build carries a signature"
fi
osslsigncode extract-signature -in "$setup" -out "$work/none.sig" >/dev/null 2>&1 && fail "an unsigned setup has a signature to extract"
said=$(osslsigncode verify -in "$setup" 2>&1 || true)
grep -qi 'no signature found' <<<"$said" || { echo "$said"; fail "osslsigncode does not report the missing signature"; }

say "PASS"
