#!/usr/bin/env bash
# Installs the system packages and the system user that Mailpull's tests, demo and benchmarks
# need on Debian 12. Idempotent: run it as root as often as you like; it only acts on what is
# missing and says what it did. It never starts a system service.
#
# To add packages, append one line to PACKAGE_GROUPS below: "purpose: pkg1 pkg2 ...".
set -euo pipefail

PACKAGE_GROUPS=(
    "mail test servers: dovecot-pop3d dovecot-imapd dovecot-lmtpd postfix"
    "the README's Sieve duplicate recipe on the local Dovecot (Pigeonhole, LMTP): dovecot-sieve"
    "benchmark peer: fetchmail"
    "tools: openssl procps"
    "peak memory of the worker in the hostile-server tests (/usr/bin/time): time"
    "keyring tests (keyctl session): keyutils"
    "Secret Service, build (keyring's sync-secret-service, libdbus) and tests (a private dbus-daemon with gnome-keyring-daemon): pkg-config libdbus-1-dev dbus gnome-keyring"
    "fuzz targets (libFuzzer is C++; cargo-fuzz is installed by scripts/fuzz.sh): g++"
    "Windows installer, built and tested under wine: gcc-mingw-w64-x86-64 nsis p7zip-full wine wine64"
    "Authenticode signing of the Windows programs and installer: osslsigncode"
    "Debian package test: dpkg-dev adduser systemd"
    "the package under a real systemd (systemd-nspawn boots it in a container): systemd-container"
    "Pull Manager tray test (a real notification daemon on a virtual display): dunst xvfb"
    "metrics test (promtool check metrics): prometheus"
    "filter test, a real scanner (spamd with spamc -p PORT, the GTUBE string): spamassassin spamd spamc"
    "shared state tests (a private cluster from initdb and pg_ctl): postgresql"
    "filter test, a virus scanner (a private clamd with an EICAR-only database; clamdscan): clamav-daemon clamdscan"
)

# System user that owns the test servers' mailboxes (Dovecot refuses to run mail processes as root).
TEST_USER=mailpulltest

die() { echo "setup-deps: error: $*" >&2; exit 1; }
say() { echo "setup-deps: $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0)"
command -v dpkg-query >/dev/null || die "dpkg-query not found: this script expects Debian or a derivative"

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

wanted=()
for group in "${PACKAGE_GROUPS[@]}"; do
    for pkg in ${group##*:}; do wanted+=("$pkg"); done
done

missing=()
for pkg in "${wanted[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Keep package installation from starting (or restarting) system services.
    policy=/usr/sbin/policy-rc.d
    policy_added=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        policy_added=yes
    fi
    cleanup() { if [ "$policy_added" = yes ]; then rm -f "$policy"; fi; }
    trap cleanup EXIT

    # Postfix must not ask which kind of mail server this is.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections \
        || die "debconf-set-selections failed for the postfix preseed"
    echo "postfix postfix/mailname string localhost" | debconf-set-selections \
        || die "debconf-set-selections failed for the postfix mailname"

    # PostgreSQL: no system cluster (the tests make their own with initdb); a file that is
    # already there is the administrator's and stays as it is.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi

    say "apt-get update"
    apt-get update -qq >/tmp/setup-deps-apt.log 2>&1 \
        || die "apt-get update failed; see /tmp/setup-deps-apt.log"
    say "installing: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >>/tmp/setup-deps-apt.log 2>&1 \
        || die "apt-get install ${missing[*]} failed; see /tmp/setup-deps-apt.log"
    for pkg in "${missing[@]}"; do
        is_installed "$pkg" || die "package $pkg is still not installed after apt-get install"
    done
fi

# ClamAV: the filter test runs a private clamd with its own EICAR-only database; the packages'
# services (clamd on the system database, freshclam fetching it over the network) stay off,
# also after a reboot.
if command -v systemctl >/dev/null; then
    for unit in clamav-daemon.service clamav-daemon.socket clamav-freshclam.service; do
        if [ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" = enabled ]; then
            systemctl disable "$unit" >/dev/null 2>&1 || die "systemctl disable $unit failed"
            say "disabled $unit (the tests run a clamd of their own)"
        fi
    done
fi

if ! getent group "$TEST_USER" >/dev/null; then
    groupadd --system "$TEST_USER" || die "groupadd $TEST_USER failed"
    say "created system group $TEST_USER"
fi
if ! getent passwd "$TEST_USER" >/dev/null; then
    useradd --system --gid "$TEST_USER" --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin "$TEST_USER" || die "useradd $TEST_USER failed"
    say "created system user $TEST_USER"
fi

# The Postfix and Dovecot service users come with their packages; check rather than assume.
for user in postfix dovecot dovenull; do
    getent passwd "$user" >/dev/null || die "system user $user is missing; reinstall postfix/dovecot"
done
getent group postdrop >/dev/null || die "system group postdrop is missing; reinstall postfix"

if [ "${#missing[@]}" -eq 0 ]; then
    say "all packages present (${#wanted[@]} checked)"
fi
