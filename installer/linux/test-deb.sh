#!/usr/bin/env bash
# Builds the mailpull Debian package with cargo-deb and checks it:
#   1. dpkg-deb -I / -c: name, dependencies, conffile, the binary, the unit, the sample;
#   2. systemd-analyze security --offline: the unit's exposure score stays "OK" (< 2.0);
#   3. dpkg -i on this machine: the postinst creates the user `mailpull` and its folders
#      with the right owners and modes, and the empty service secret store (root, 0600);
#      systemd-analyze verify accepts the installed unit; `set-password` as root writes the
#      store, which the account mailpull cannot read; the unit hands it in (LoadCredential=)
#      and `check`, run with that copy as the unit runs it, takes the password from it;
#   4. the worker runs the way the unit runs it (user mailpull, $STATE_DIRECTORY,
#      /run/mailpull, $CREDENTIALS_DIRECTORY) and `mailpull-worker status` as root answers
#      over the socket; SIGTERM stops it cleanly;
#   5. dpkg --purge removes binary, unit, configuration, state, the OAuth token file, the
#      secret store and the user.
# systemd is not PID 1 on this machine, so step 4 starts the worker with setpriv (as user
# mailpull) instead of systemctl, and copies the unit's LoadCredential= file into a
# $CREDENTIALS_DIRECTORY of the user's as systemd does. installer/linux/test-systemd.sh runs
# the same package under a real systemd (PID 1 in a systemd-nspawn container): start, reboot,
# upgrade and purge through systemctl and dpkg.
# Step 3-5 change the system (package, user): they are skipped when a mailpull package is
# already installed, or with MAILPULL_DEB_INSTALL=0.
#
#   bash installer/linux/test-deb.sh     (as root; part of scripts/test.sh)
#   MAILPULL_DEB_PROFILE=dev bash ...    packages the debug build the tests built already
#                                        (saves the release build, ~4 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."

start=$(date +%s)
say() { echo "test-deb: [$(( $(date +%s) - start ))s] $*"; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }

say "building the package (cargo deb)"
if [ "${MAILPULL_DEB_PROFILE:-release}" = dev ]; then
    deb=$(bash installer/linux/build-deb.sh --dev)
else
    deb=$(bash installer/linux/build-deb.sh)
fi
[ -f "$deb" ] || fail "build-deb.sh did not produce a .deb"
say "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

say "1. package metadata and contents"
info=$(dpkg-deb -I "$deb")
grep -q '^ Package: mailpull$' <<<"$info" || fail "package name is not mailpull"
grep -q '^ Depends:.*adduser' <<<"$info" || fail "the package does not depend on adduser"
dpkg-deb -I "$deb" conffiles | grep -qx '/etc/mailpull/mailpull.toml' \
    || fail "/etc/mailpull/mailpull.toml is not a conffile"
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/mailpull-worker ./usr/lib/systemd/system/mailpull.service \
    ./etc/mailpull/mailpull.toml ./usr/share/doc/mailpull/mailpull.sample.toml \
    ./usr/share/doc/mailpull/grafana-dashboard.json; do
    grep -q " $path\$" <<<"$contents" || { echo "$contents"; fail "the package lacks $path"; }
done

say "2. the unit's hardening (systemd-analyze security --offline)"
unit_dir=$(mktemp -d)
trap 'rm -rf "$unit_dir"' EXIT
dpkg-deb -x "$deb" "$unit_dir"
exposure=$(systemd-analyze security --offline=yes "$unit_dir/usr/lib/systemd/system/mailpull.service" 2>&1 \
    | sed -n 's/.*Overall exposure level for mailpull.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
say "   exposure level $exposure (0 = fully locked down, 10 = unprotected)"
awk -v e="$exposure" 'BEGIN { exit !(e < 2.0) }' || fail "exposure level $exposure is 2.0 or more"

if [ "${MAILPULL_DEB_INSTALL:-1}" = 0 ]; then
    say "MAILPULL_DEB_INSTALL=0: not installing"; say "PASS"; exit 0
fi
if dpkg-query -W -f='${db:Status-Status}' mailpull 2>/dev/null | grep -q installed; then
    say "a mailpull package is installed already: not touching it"; say "PASS"; exit 0
fi
[ "$(id -u)" -eq 0 ] || fail "dpkg -i needs root (or set MAILPULL_DEB_INSTALL=0)"

worker_pid=
purge() {
    if [ -n "$worker_pid" ]; then kill "$worker_pid" 2>/dev/null || true; fi
    dpkg --purge mailpull >/dev/null 2>&1 || true
    rm -rf "$unit_dir" /run/mailpull "${cred_dir:-}"
}
trap purge EXIT

say "3. dpkg -i"
dpkg -i "$deb" >/dev/null || fail "dpkg -i failed"
getent passwd mailpull >/dev/null || fail "the postinst created no user mailpull"
[ "$(stat -c '%U:%G %a' /var/lib/mailpull)" = "mailpull:mailpull 750" ] \
    || fail "/var/lib/mailpull is $(stat -c '%U:%G %a' /var/lib/mailpull)"
[ "$(stat -c '%U:%G %a' /etc/mailpull/mailpull.toml)" = "mailpull:mailpull 640" ] \
    || fail "/etc/mailpull/mailpull.toml is $(stat -c '%U:%G %a' /etc/mailpull/mailpull.toml)"
systemd-analyze verify /usr/lib/systemd/system/mailpull.service \
    || fail "systemd-analyze verify refused the installed unit"
store=/etc/credstore/mailpull-secrets.toml
[ "$(stat -c '%U:%G %a' /etc/credstore)" = "root:root 700" ] \
    || fail "/etc/credstore is $(stat -c '%U:%G %a' /etc/credstore)"
[ "$(stat -c '%U:%G %a' "$store")" = "root:root 600" ] || fail "$store is $(stat -c '%U:%G %a' "$store")"
credential=$(sed -n 's/^LoadCredential=mailpull-secrets:\(.*\)$/\1/p' /usr/lib/systemd/system/mailpull.service)
[ "$credential" = "$store" ] || fail "the unit does not hand $store in as credential mailpull-secrets (LoadCredential=$credential)"

say "3b. set-password as root writes the service secret store"
secret="deb-secret-$$"
out=$(printf '%s\n' "$secret" | /usr/bin/mailpull-worker set-password user1 2>&1) \
    || fail "set-password as root failed: $out"
grep -q "service secret store $store" <<<"$out" || fail "set-password did not write $store: $out"
if grep -qF "$secret" <<<"$out"; then fail "set-password echoed the secret"; fi
[ "$(stat -c '%U:%G %a' "$store")" = "root:root 600" ] || fail "after set-password $store is $(stat -c '%U:%G %a' "$store")"
grep -qF "user1 = \"$secret\"" "$store" || grep -qF "user1 = '$secret'" "$store" || fail "$store lacks user1's password"
if setpriv --reuid=mailpull --regid=mailpull --init-groups -- cat "$store" >/dev/null 2>&1; then
    fail "the account mailpull can read $store"
fi
if out=$(setpriv --reuid=mailpull --regid=mailpull --init-groups -- /usr/bin/mailpull-worker check --config /etc/mailpull/mailpull.toml 2>&1); then
    fail "check as mailpull without the credential passed: $out"
fi
grep -q "cannot read the service secret store $store" <<<"$out" \
    || fail "check as mailpull without the credential did not say why: $out"
# What systemd does at start for LoadCredential=: a copy, readable by the unit's user only.
cred_dir=$(mktemp -d)
install -o mailpull -g mailpull -m 0400 "$credential" "$cred_dir/mailpull-secrets"
chown mailpull:mailpull "$cred_dir"
chmod 0500 "$cred_dir"
out=$(CREDENTIALS_DIRECTORY=$cred_dir setpriv --reuid=mailpull --regid=mailpull --init-groups -- \
    /usr/bin/mailpull-worker check --config /etc/mailpull/mailpull.toml 2>&1) \
    || fail "the installed worker refused the installed configuration: $out"
grep -q "password: service secret store (systemd credential $cred_dir/mailpull-secrets)" <<<"$out" \
    || fail "check did not take user1's password from the credential: $out"

say "4. the worker runs as the unit runs it; status answers as root"
install -d -o mailpull -g mailpull -m 0700 /run/mailpull
log=$(mktemp)
STATE_DIRECTORY=/var/lib/mailpull MAILPULL_IPC_DIR=/run/mailpull CREDENTIALS_DIRECTORY=$cred_dir \
    setpriv --reuid=mailpull --regid=mailpull --init-groups -- /usr/bin/mailpull-worker run --config /etc/mailpull/mailpull.toml \
    >"$log" 2>&1 &
worker_pid=$!
answered=no
for _ in $(seq 1 50); do
    if out=$(/usr/bin/mailpull-worker status --config /etc/mailpull/mailpull.toml 2>&1) \
        && grep -q '^user1 ' <<<"$out"; then
        answered=yes
        break
    fi
    sleep 0.2
done
[ "$answered" = yes ] || { cat "$log"; fail "status did not answer: $out"; }
[ -f /var/lib/mailpull/state.sqlite3 ] || fail "no state database in /var/lib/mailpull"
[ "$(stat -c %U /var/lib/mailpull/state.sqlite3)" = mailpull ] || fail "the state database is not mailpull's"
kill -TERM "$worker_pid"
wait "$worker_pid" || { cat "$log"; fail "the worker did not stop cleanly on SIGTERM"; }
worker_pid=
grep -q 'worker stopped' "$log" || { cat "$log"; fail "no clean-stop line in the worker's log"; }
rm -f "$log"

say "5. dpkg --purge"
# A signed-in profile's refresh token: the service's token file (mailpull's, 0600).
install -o mailpull -g mailpull -m 0600 /dev/null /var/lib/mailpull/oauth-tokens
dpkg --purge mailpull >/dev/null || fail "dpkg --purge failed"
for path in /usr/bin/mailpull-worker /usr/lib/systemd/system/mailpull.service /etc/mailpull /var/lib/mailpull \
    /var/lib/mailpull/oauth-tokens \
    /etc/credstore/mailpull-secrets.toml /etc/credstore/.mailpull-secrets.toml.lock; do
    [ ! -e "$path" ] || fail "$path is still there after purge"
done
if getent passwd mailpull >/dev/null; then fail "the user mailpull is still there after purge"; fi

say "PASS"
