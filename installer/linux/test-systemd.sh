#!/usr/bin/env bash
# The Debian package under a real systemd: boots systemd as PID 1 in a container
# (systemd-nspawn -b) whose root is an overlay of this machine's own root (a tmpfs takes every
# write; nothing of the machine changes), and inside it:
#   1. dpkg -i: the unit is enabled and not started (the sample needs editing first);
#   2. the administrator's steps: a profile in /etc/mailpull/mailpull.toml pointing at a private
#      Dovecot (POP3) and Postfix's smtp-sink, both on 127.0.0.1 outside the container (it
#      shares the network), `set-password user1` as root into the service secret store,
#      `systemctl start mailpull`: active, running as user mailpull, `mailpull-worker status`
#      answers, and the message is delivered and deleted from the mailbox (the password came
#      in through LoadCredential=);
#   3. a reboot of the container: the service starts at boot and logs in with the stored
#      secret (a second message);
#   4. an upgrade to a package of a higher version (the same files): the edited configuration
#      and the secret store are kept byte for byte, the service is restarted (a new main PID
#      running the new binary; the old process is gone) and delivers a third message; the
#      worker's journal holds no refused call ("Operation not permitted") and no SIGSYS;
#   4b. the README's encrypted alternative: the store encrypted with systemd-creds and handed
#      in by a drop-in's LoadCredentialEncrypted= (the plain file moved away): a fourth message;
#      systemd-creds decrypt gives back the same file (root, 0600);
#   5. SystemCallErrorNumber=EPERM: a probe unit with the unit's own sandbox calls
#      setpriority(2), which @resources filters: it gets EPERM and carries on; without the
#      line the same probe is killed by SIGSYS (so the filter does apply);
#   6. dpkg --purge: the service is stopped, the unit, the enablement link, the configuration,
#      the state, the secret store and the user are gone.
# The package is the one test-deb.sh built (target/debian/mailpull_*.deb, or MAILPULL_DEB);
# without one it is built (MAILPULL_DEB_PROFILE=dev: the debug build). Needs root,
# systemd-nspawn (package systemd-container; scripts/setup-deps.sh), overlayfs, dovecot and
# smtp-sink; no network beyond 127.0.0.1. If systemd cannot boot here the test FAILS with
# nspawn's output: it never skips. About 45 s.
#
#   bash installer/linux/test-systemd.sh     (as root; part of scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."

start=$(date +%s)
say() { echo "test-systemd: [$(( $(date +%s) - start ))s] $*"; }
fail() { echo "test-systemd: FAIL: $*" >&2; exit 1; }

if [ "${1:-}" != --inside ]; then
    [ "$(id -u)" -eq 0 ] || fail "needs root (systemd-nspawn, mount, dpkg in the container)"
    for tool in systemd-nspawn nsenter unshare dovecot smtp-sink dpkg-deb python3; do
        command -v "$tool" >/dev/null \
            || fail "$tool is missing (bash scripts/setup-deps.sh installs it; systemd-nspawn is in systemd-container)"
    done
    deb=${MAILPULL_DEB:-$(ls "${CARGO_TARGET_DIR:-target}"/debian/mailpull_*.deb 2>/dev/null | head -n 1 || true)}
    if [ -z "$deb" ]; then
        say "no package built yet: building it"
        if [ "${MAILPULL_DEB_PROFILE:-release}" = dev ]; then
            deb=$(bash installer/linux/build-deb.sh --dev)
        else
            deb=$(bash installer/linux/build-deb.sh)
        fi
    fi
    [ -f "$deb" ] || fail "no package at $deb"
    deb=$(realpath "$deb")
    unshare --mount true 2>/dev/null \
        || fail "cannot make a mount namespace (unshare --mount): a container without CAP_SYS_ADMIN cannot boot systemd either"
    work=$(mktemp -d /tmp/mailpull-systemd.XXXXXX)
    # A mount namespace of its own: the overlay, the tmpfs and nspawn's /run files vanish with it.
    rc=0
    unshare --mount --propagation private -- bash "$0" --inside "$work" "$deb" || rc=$?
    rmdir "$work" 2>/dev/null || true
    exit "$rc"
fi

work=$2
deb=$3
mount -t tmpfs -o mode=0755 mailpull-systemd "$work" || fail "cannot mount a tmpfs on $work"
# nspawn keeps its own files in /run/systemd/nspawn: a private /run keeps them off the machine.
mount -t tmpfs -o mode=0755 mailpull-systemd-run /run || fail "cannot mount a tmpfs on /run"

nspawn_pid=
dovecot_pid=
sink_pid=
running() { # PID: alive and not a zombie (a child of ours that exited stays one until waited for)
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null
}
cleanup() {
    if [ -n "$nspawn_pid" ] && running "$nspawn_pid"; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 1 60); do running "$nspawn_pid" || break; sleep 0.5; done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    for pid in $dovecot_pid $sink_pid; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $dovecot_pid $sink_pid; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # PORT PID NAME LOG: 0 once it listens, 1 if it exited (a port taken meanwhile)
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        running "$2" || { wait "$2" || true; return 1; }
        sleep 0.1
    done
    cat "$4" >&2
    fail "$3 does not listen on 127.0.0.1:$1"
}

# --- the mail servers, on the machine's loopback (the container shares the network) ---------
mail_user=mailpulltest
id "$mail_user" >/dev/null 2>&1 || fail "no user $mail_user (bash scripts/setup-deps.sh creates it)"
uid=$(id -u "$mail_user")
gid=$(id -g "$mail_user")
srv=$work/servers
mailbox=$srv/mail/user1/Maildir
install -d -m 0755 "$srv" "$srv/run" "$srv/state" "$srv/mail"
install -d -o "$uid" -g "$gid" -m 0700 "$srv/mail/user1" "$mailbox" "$mailbox/new" "$mailbox/cur" "$mailbox/tmp"
install -d -o "$uid" -g "$gid" -m 0755 "$srv/sink"
pop3_password=systemd-pop3-secret-$$
printf 'user1:{PLAIN}%s\n' "$pop3_password" >"$srv/passwd"
dovecot_config() { # PORT
    cat <<EOF
# A private Dovecot for installer/linux/test-systemd.sh: the ISP's mailbox.
instance_name = mailpull-systemd-test
base_dir = $srv/run
state_dir = $srv/state
log_path = $srv/dovecot.log
listen = 127.0.0.1
protocols = pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = $uid
last_valid_uid = $uid
passdb {
  driver = passwd-file
  args = scheme=PLAIN $srv/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$srv/mail/%u
}
service pop3-login {
  inet_listener pop3 {
    port = $1
  }
  inet_listener pop3s {
    port = 0
  }
}
EOF
}
# Each on a free port; another program may take the port first, so up to five tries.
for attempt in 1 2 3 4 5; do
    pop3_port=$(free_port)
    dovecot_config "$pop3_port" >"$srv/dovecot.conf"
    dovecot -F -c "$srv/dovecot.conf" >"$srv/dovecot.stderr" 2>&1 &
    dovecot_pid=$!
    wait_port "$pop3_port" "$dovecot_pid" dovecot "$srv/dovecot.stderr" && break
    dovecot_pid=
    [ "$attempt" -lt 5 ] || { cat "$srv/dovecot.stderr" "$srv/dovecot.log" >&2 2>/dev/null; fail "dovecot did not start"; }
done
for attempt in 1 2 3 4 5; do
    smtp_port=$(free_port)
    smtp-sink -u "$mail_user" -d "$srv/sink/%H%M%S." "127.0.0.1:$smtp_port" 100 >"$srv/sink.log" 2>&1 &
    sink_pid=$!
    wait_port "$smtp_port" "$sink_pid" smtp-sink "$srv/sink.log" && break
    sink_pid=
    [ "$attempt" -lt 5 ] || { cat "$srv/sink.log" >&2; fail "smtp-sink did not start"; }
done
say "Dovecot (POP3) on 127.0.0.1:$pop3_port, smtp-sink on 127.0.0.1:$smtp_port"

put_message() { # N: a message with subject "systemd test N" into user1's mailbox (tmp/, then new/)
    local name
    name=$(date +%s).systemd-$1.test
    local file=$mailbox/tmp/$name
    printf 'From: sender@example.org\r\nTo: user1@example.org\r\nSubject: systemd test %s\r\nMessage-ID: <systemd-%s-%s@example.org>\r\n\r\nMessage %s of installer/linux/test-systemd.sh.\r\n' \
        "$1" "$1" "$$" "$1" >"$file"
    chown "$uid:$gid" "$file"
    mv "$file" "$mailbox/new/$name"
}
wait_delivered() { # N WHAT: the message reached smtp-sink for user1@example.test and left the mailbox
    for _ in $(seq 1 120); do
        if grep -qs "^Subject: systemd test $1" "$srv"/sink/* \
            && [ -z "$(find "$mailbox/new" "$mailbox/cur" -type f)" ]; then
            grep -ls "^Subject: systemd test $1" "$srv"/sink/* | xargs grep -q 'user1@example.test' \
                || fail "message $1 reached smtp-sink, but not for user1@example.test"
            return 0
        fi
        sleep 0.5
    done
    ct journalctl -u mailpull --no-pager -n 60 >&2 || true
    fail "message $1 ($2) was not delivered within 60 s (left in the mailbox: $(find "$mailbox/new" "$mailbox/cur" -type f | wc -l))"
}

# --- the container's root: this machine's root under a tmpfs overlay ------------------------
root=$work/root
install -d -m 0755 "$work/upper" "$work/ovl" "$root"
mount -t overlay mailpull-systemd-root -o "lowerdir=/,upperdir=$work/upper,workdir=$work/ovl" "$root" \
    || fail "cannot mount an overlay of / (overlayfs)"
# The container starts only what systemd itself needs: none of the services this machine
# enables (Dovecot, Postfix, PostgreSQL ... would take ports beside the tests), no timers
# (apt-daily would use the network), and invoke-rc.d is not blocked by a policy-rc.d a
# package installation left behind (it would keep the package from restarting the service).
rm -rf "$root"/etc/systemd/system/*.wants "$root/usr/sbin/policy-rc.d"
systemd-id128 new >"$root/etc/machine-id"
install -d -m 0700 "$root/var/tmp/mailpull-systemd"
cp "$deb" "$root/var/tmp/mailpull-systemd/old.deb"

# The upgrade: the same package with a higher version.
old_version=$(dpkg-deb -f "$deb" Version)
new_version=$old_version+systemdtest1
dpkg --compare-versions "$new_version" gt "$old_version" || fail "$new_version is not above $old_version"
dpkg-deb -R "$deb" "$work/pkg"
sed -i "s/^Version: .*/Version: $new_version/" "$work/pkg/DEBIAN/control"
dpkg-deb -Zgzip -z1 -b "$work/pkg" "$root/var/tmp/mailpull-systemd/new.deb" >/dev/null
rm -rf "$work/pkg"

leader=
boot() { # boots the container; sets $nspawn_pid and $leader (the container's PID 1)
    systemd-nspawn --quiet -D "$root" -b -M "mailpull-test-$$" --register=no --keep-unit \
        --link-journal=no --console=pipe >>"$work/console.log" 2>&1 </dev/null &
    nspawn_pid=$!
    leader=
    for _ in $(seq 1 300); do
        for child in $(pgrep -P "$nspawn_pid" || true); do
            if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then leader=$child; fi
        done
        [ -n "$leader" ] && break
        running "$nspawn_pid" || break
        sleep 0.1
    done
    [ -n "$leader" ] || { cat "$work/console.log" >&2; fail "systemd-nspawn did not boot systemd as PID 1 (output above)"; }
    local state=
    for _ in $(seq 1 240); do # its bus socket appears a moment after PID 1 does
        state=$(timeout 120 nsenter -t "$leader" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            systemctl is-system-running --wait 2>&1) || true
        case "$state" in *"Failed to connect to bus"*) ;; *) break ;; esac
        running "$nspawn_pid" || break
        sleep 0.5
    done
    case "$state" in
        running) ;;
        *) ct systemctl --failed --no-pager >&2 || true; cat "$work/console.log" >&2
           fail "systemd in the container did not come up: is-system-running says '$state'" ;;
    esac
}
ct() { # a command inside the container, as root, with a clean environment
    nsenter -t "$leader" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}
wait_stopped() {
    for _ in $(seq 1 240); do running "$nspawn_pid" || break; sleep 0.5; done
    if running "$nspawn_pid"; then fail "the container did not stop within 120 s"; fi
    wait "$nspawn_pid" || true
    nspawn_pid=
}
pkg() { # WHAT ARGS...: dpkg in the container, its output shown only on failure
    local what=$1
    shift
    ct "$@" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "$what failed"; }
}
main_pid() { ct systemctl show -P MainPID mailpull; }
wait_active() { # WHAT
    local state
    for _ in $(seq 1 100); do
        state=$(ct systemctl is-active mailpull || true)
        [ "$state" = active ] && [ "$(main_pid)" != 0 ] && return 0
        sleep 0.2
    done
    ct systemctl status mailpull --no-pager >&2 || true
    ct journalctl -u mailpull --no-pager -n 60 >&2 || true
    fail "mailpull.service is $state $1"
}
status_answers() { # WHAT
    local out
    for _ in $(seq 1 50); do
        if out=$(ct /usr/bin/mailpull-worker status 2>&1) && grep -q '^user1 ' <<<"$out"; then return 0; fi
        sleep 0.2
    done
    fail "mailpull-worker status did not answer $1: $out"
}

say "1. booting systemd in a container (systemd-nspawn -b, an overlay of /)"
boot
say "   systemd $(ct systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') is PID 1, state running"
if ct dpkg-query -W -f='${db:Status-Status}' mailpull 2>/dev/null | grep -q installed; then
    say "   this machine has a mailpull package: purging it inside the container first"
    pkg "dpkg --purge of the machine's mailpull in the container" dpkg --purge mailpull
fi
pkg "dpkg -i $old_version" dpkg -i /var/tmp/mailpull-systemd/old.deb
[ "$(ct systemctl is-enabled mailpull)" = enabled ] || fail "the package did not enable mailpull.service"
[ "$(ct systemctl is-active mailpull || true)" = inactive ] || fail "dpkg -i started the service before it was configured"
ct systemd-analyze verify mailpull.service || fail "systemd-analyze verify refused the installed unit"
errno=$(ct systemctl show -P SystemCallErrorNumber mailpull)
case "$errno" in 1 | EPERM | eperm) ;; *) fail "the unit's SystemCallErrorNumber is '$errno', not EPERM" ;; esac
say "   installed $old_version: enabled, not started; verify passes; SystemCallErrorNumber=$errno"

say "2. configuration, set-password, systemctl start, a poll"
ct tee /etc/mailpull/mailpull.toml >/dev/null <<EOF
# Edited by the administrator (installer/linux/test-systemd.sh).
[worker]
log_level = "info"

[[profile]]
name = "user1"
interval = "10s"

[profile.remote]
protocol = "pop3"
host = "127.0.0.1"
port = $pop3_port
security = "plain"
username = "user1"
password = { keyring = true }

[profile.local]
smtp = "127.0.0.1:$smtp_port"
user = "user1"
domain = "example.test"
EOF
out=$(printf '%s\n' "$pop3_password" | ct /usr/bin/mailpull-worker set-password user1 2>&1) \
    || fail "set-password as root failed: $out"
grep -q 'service secret store /etc/credstore/mailpull-secrets.toml' <<<"$out" \
    || fail "set-password did not write the service secret store: $out"
config_sum=$(ct sha256sum /etc/mailpull/mailpull.toml)
store_sum=$(ct sha256sum /etc/credstore/mailpull-secrets.toml)
put_message 1
ct systemctl start mailpull || { ct journalctl -u mailpull --no-pager -n 40 >&2; fail "systemctl start mailpull failed"; }
wait_active "after systemctl start"
pid1=$(main_pid)
[ "$(ct ps -o user= -p "$pid1")" = mailpull ] || fail "the worker (PID $pid1) does not run as user mailpull"
status_answers "after systemctl start"
wait_delivered 1 "first poll"
say "   active, PID $pid1 as mailpull, status answers, message 1 delivered and deleted"

say "3. reboot: the service starts at boot and logs in with the stored secret"
put_message 2
ct systemctl reboot >/dev/null 2>&1 || true # the bus goes away under systemctl
wait_stopped
boot
wait_active "after the reboot"
pid2=$(main_pid)
status_answers "after the reboot"
wait_delivered 2 "after the reboot"
say "   active after boot (PID $pid2), message 2 delivered"

say "4. upgrade to $new_version"
pkg "dpkg -i $new_version (the upgrade)" dpkg -i /var/tmp/mailpull-systemd/new.deb
[ "$(ct dpkg-query -W -f='${Version}' mailpull)" = "$new_version" ] || fail "the upgrade did not install $new_version"
[ "$(ct sha256sum /etc/mailpull/mailpull.toml)" = "$config_sum" ] || fail "the upgrade changed /etc/mailpull/mailpull.toml"
[ "$(ct stat -c '%U:%G %a' /etc/mailpull/mailpull.toml)" = "mailpull:mailpull 640" ] \
    || fail "after the upgrade /etc/mailpull/mailpull.toml is $(ct stat -c '%U:%G %a' /etc/mailpull/mailpull.toml)"
[ "$(ct sha256sum /etc/credstore/mailpull-secrets.toml)" = "$store_sum" ] || fail "the upgrade changed the service secret store"
wait_active "after the upgrade"
pid3=$(main_pid)
[ "$pid3" != "$pid2" ] || fail "the upgrade did not restart the service (main PID still $pid2)"
if ct kill -0 "$pid2" 2>/dev/null; then fail "the old worker (PID $pid2) still runs after the upgrade"; fi
exe=$(ct readlink "/proc/$pid3/exe")
[ "$exe" = /usr/bin/mailpull-worker ] || fail "the restarted worker runs '$exe', not the upgraded /usr/bin/mailpull-worker"
status_answers "after the upgrade"
put_message 3
wait_delivered 3 "after the upgrade"
say "   configuration and secret store kept, restarted (PID $pid2 -> $pid3, the new binary), message 3 delivered"
# Under the real sandbox the worker made no call the filter refused, and none killed it.
journal=$(ct journalctl -u mailpull --no-pager -o cat)
if grep -qi 'operation not permitted' <<<"$journal"; then
    grep -i 'operation not permitted' <<<"$journal" >&2
    fail "the worker met a refused call under the unit's sandbox"
fi
if grep -q 'status=31/SYS' <<<"$journal"; then fail "SIGSYS killed the worker under the unit's sandbox"; fi

say "4b. the encrypted alternative: LoadCredentialEncrypted= in a drop-in (README)"
# The store encrypted with systemd-creds (the machine's host key) and handed in under the same
# name; the plain file is moved away meanwhile, so the password can only come from the copy
# systemd decrypted.
ct install -d -m 0700 /etc/credstore.encrypted
ct systemd-creds encrypt --name=mailpull-secrets /etc/credstore/mailpull-secrets.toml \
    /etc/credstore.encrypted/mailpull-secrets.cred >/dev/null 2>&1 || fail "systemd-creds encrypt failed"
ct mv /etc/credstore/mailpull-secrets.toml /etc/credstore/mailpull-secrets.toml.aside
ct install -d -m 0755 /etc/systemd/system/mailpull.service.d
printf '[Service]\nLoadCredential=\nLoadCredentialEncrypted=mailpull-secrets:/etc/credstore.encrypted/mailpull-secrets.cred\n' \
    | ct tee /etc/systemd/system/mailpull.service.d/encrypted.conf >/dev/null
ct systemctl daemon-reload
put_message 4
ct systemctl restart mailpull || { ct journalctl -u mailpull --no-pager -n 40 >&2; fail "restart with the encrypted credential failed"; }
wait_active "with LoadCredentialEncrypted="
wait_delivered 4 "with the encrypted credential"
# Back as the README says before a set-password: decrypted into the plain file, the same bytes.
ct rm /etc/credstore/mailpull-secrets.toml.aside
ct sh -c 'umask 077; systemd-creds decrypt --name=mailpull-secrets /etc/credstore.encrypted/mailpull-secrets.cred /etc/credstore/mailpull-secrets.toml' \
    || fail "systemd-creds decrypt failed"
[ "$(ct sha256sum /etc/credstore/mailpull-secrets.toml)" = "$store_sum" ] || fail "the decrypted store differs from the original"
[ "$(ct stat -c '%U:%G %a' /etc/credstore/mailpull-secrets.toml)" = "root:root 600" ] \
    || fail "the decrypted store is $(ct stat -c '%U:%G %a' /etc/credstore/mailpull-secrets.toml)"
ct rm -r /etc/systemd/system/mailpull.service.d /etc/credstore.encrypted
ct systemctl daemon-reload
ct systemctl restart mailpull
wait_active "back on LoadCredential="
say "   the worker took the password from the decrypted credential: message 4 delivered; decrypt gives the store back"

say "5. a filtered system call: EPERM, not SIGSYS"
# The installed unit with its sandbox, user and filters, running nice(1) instead of the worker:
# setpriority(2) is in @resources, which the unit filters out.
probe() { # NAME KEEP_ERRNO
    local unit=/run/systemd/system/$1.service
    ct sed -e '/^ExecStartPre=/d' -e 's|^ExecStart=.*|ExecStart=/usr/bin/nice -n 5 /usr/bin/true|' \
        -e 's/^Type=.*/Type=oneshot/' -e '/^Restart/d' -e '/^\[Install\]/,$d' \
        /usr/lib/systemd/system/mailpull.service | ct tee "$unit" >/dev/null
    if [ "$2" = no ]; then ct sed -i '/^SystemCallErrorNumber=/d' "$unit"; fi
    ct systemctl daemon-reload
    ct systemctl start "$1" >/dev/null 2>&1 || true
    ct systemctl show -P Result "$1"
}
result=$(probe mailpull-syscall-probe yes)
[ "$result" = success ] || fail "the probe with the unit's SystemCallErrorNumber=EPERM ended with '$result'"
ct journalctl -u mailpull-syscall-probe --no-pager | grep -q 'cannot set niceness: Operation not permitted' \
    || fail "the probe's setpriority did not fail with EPERM: $(ct journalctl -u mailpull-syscall-probe --no-pager | tail -5)"
result=$(probe mailpull-syscall-probe-sigsys no)
[ "$result" = signal ] || fail "without SystemCallErrorNumber the probe ended with '$result', not killed by SIGSYS (the filter did not apply)"
say "   with the unit's sandbox setpriority gets EPERM and the probe finishes; without the line SIGSYS kills it"

say "6. dpkg --purge"
pkg "dpkg --purge mailpull" dpkg --purge mailpull
if ct kill -0 "$pid3" 2>/dev/null; then fail "the worker (PID $pid3) still runs after purge"; fi
[ "$(ct systemctl is-active mailpull || true)" = inactive ] || fail "mailpull.service is still active after purge"
ct systemctl daemon-reload
load=$(ct systemctl show -P LoadState mailpull)
[ "$load" = not-found ] || fail "systemd still finds mailpull.service after purge (LoadState=$load)"
for path in /usr/bin/mailpull-worker /usr/lib/systemd/system/mailpull.service \
    /etc/systemd/system/multi-user.target.wants/mailpull.service /etc/mailpull /var/lib/mailpull \
    /etc/credstore/mailpull-secrets.toml /run/mailpull; do
    if ct test -e "$path"; then fail "$path is still there after purge"; fi
done
if ct getent passwd mailpull >/dev/null; then fail "the user mailpull is still there after purge"; fi
say "   stopped; unit, link, configuration, state, secret store and user removed"

ct systemctl poweroff >/dev/null 2>&1 || true
wait_stopped
say "PASS"
