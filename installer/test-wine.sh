#!/usr/bin/env bash
# End-to-end check of the Windows installer under wine (Debian's wine64), in a throw-away
# WINEPREFIX: builds Mailpull-Setup-<version>.exe with installer/build.sh, then
#   1. `7z l` lists the expected files in the installer;
#   2. a `service install` that fails (a file where the data folder goes) makes `Setup.exe /S`
#      exit 3 and leaves no program files, no service and no uninstaller entry, the reason in
#      %TEMP%\Mailpull-Setup.log; then `Setup.exe /S` installs silently;
#   3. `sc query MailpullWorker` shows the service running, as NT SERVICE\MailpullWorker, and
#      the Event Log source MailpullWorker is registered (and gone after the uninstall);
#   4. the installed `mailpull-worker.exe status` answers over the real named pipe, and
#      `set-password` stores a password in the service's credential store through it (the
#      reply never repeats it, no file under %ProgramData%\Mailpull holds it);
#   5. `mailpull-worker.exe check` accepts the installed sample configuration;
#   6. a second `Setup.exe /S` (an upgrade) keeps the edited configuration and the state;
#      with a configuration the worker refuses, `service start` fails and names the file
#      that holds the reason, which says the service stays stopped; `Setup.exe /S` then exits
#      4 and keeps the installation;
#   7. the silent uninstaller stops and removes the service and the program files and keeps
#      the configuration and the state database;
#   8a. the installed Pull Manager runs under Xvfb in a wine desktop with its shell: it puts
#      its icon in the notification area and shows a balloon ("Mailpull: the worker stopped") when the service stops
#      (WINE_TRAY_SHOT=FILE keeps a screenshot of the display then);
#   8. reinstalled, `uninstall.exe /S /REMOVEDATA` ("Remove my data") removes the data and
#      the stored passwords in the service's credential store too.
# Service-aware window (issue 14): the installed mailpull-manager.exe asks for no elevation
# (manifest `asInvoker`), and the installer runs `net localgroup "Mailpull Administrators"
# /add` and adds the installing user, the uninstaller `/delete`. Wine's net.exe knows only
# START, STOP and USE (and its netapi32 group calls are stubs), so wine cannot show the group
# itself, nor enforce the pipe's access list or UAC: README "What wine shows, and what only a
# real Windows can" lists the steps to check those on Windows.
#
#   bash installer/test-wine.sh            (as part of scripts/test.sh)
#   KEEP_PREFIX=1 bash installer/test-wine.sh   keeps the prefix for a look afterwards
#
# Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Rust programs import: the test puts a
# tiny stand-in (installer/wine/bcryptprimitives.c) into the prefix's system32. It is never
# part of the installer; real Windows has the DLL.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
SERVICE=MailpullWorker
start=$(date +%s)
say() { echo "test-wine: [$(( $(date +%s) - start ))s] $*"; }
fail() { echo "test-wine: FAIL: $*" >&2; exit 1; }

[ -x "$WINE" ] || fail "$WINE not found: apt-get install wine wine64"
command -v 7z >/dev/null || fail "7z not found: apt-get install p7zip-full"

work=$(mktemp -d /tmp/mailpull-wine.XXXXXX)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
export WINEARCH=win64
xvfb_pid=
cleanup() {
    "$WINESERVER" -k >/dev/null 2>&1 || true
    [ -z "$xvfb_pid" ] || kill "$xvfb_pid" 2>/dev/null || true
    if [ "${KEEP_PREFIX:-}" = 1 ]; then
        echo "test-wine: prefix kept in $WINEPREFIX"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Runs a Windows program in the prefix with a time limit; output to stdout.
wine_run() { timeout 180 "$WINE" "$@" 2>&1 | tr -d '\r'; }

# Runs Setup.exe (or the uninstaller) with the given arguments; on an exit code other than
# `expected`, fails with the code, the output and %TEMP%\Mailpull-Setup.log.
run_setup() {
    local expected=$1 what=$2 out code log
    shift 2
    set +e; out=$(wine_run "$@"); code=$?; set -e
    [ "$code" = "$expected" ] && return 0
    echo "$out"
    log=$(find "$WINEPREFIX/drive_c/users" -name Mailpull-Setup.log | head -n 1)
    [ -n "$log" ] && { echo "--- $log:"; tr -d '\r' <"$log"; }
    worker_log | tail -n 40
    fail "$what exited with $code, expected $expected$([ "$code" = 124 ] && echo ' (timed out after 180 s)')"
}

say "building the installer (release cross-build + makensis)"
setup=$(bash installer/build.sh "$work/out")
[ -f "$setup" ] || fail "installer/build.sh did not produce the installer"
say "built $(basename "$setup") ($(du -h "$setup" | cut -f1))"

say "1. 7z l lists the expected files"
listing=$(7z l "$setup")
for file in mailpull-worker.exe mailpull-manager.exe mailpull.sample.toml license.txt; do
    grep -q "[[:space:]]$file\$" <<<"$listing" || { echo "$listing"; fail "the installer lacks $file"; }
done

say "preparing a throw-away wine prefix"
timeout 300 "$WINE" wineboot --init >"$work/wineboot.log" 2>&1 || fail "wineboot failed: $(cat "$work/wineboot.log")"
timeout 120 "$WINESERVER" -w || fail "wineserver did not end after wineboot --init"
# Then keep one wine session up for the rest of the test: otherwise wineserver ends a few
# seconds after the last program, taking the service with it, and every wine command "boots"
# anew (auto-starting the service). Made persistent only after the first boot: during
# `wineboot --init` it ends up with two services.exe, and a service start then times out.
"$WINESERVER" -p || fail "cannot start a persistent wineserver"
timeout 300 "$WINE" wineboot >>"$work/wineboot.log" 2>&1 || fail "wineboot failed: $(cat "$work/wineboot.log")"
x86_64-w64-mingw32-gcc -shared -O2 -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    installer/wine/bcryptprimitives.c -ladvapi32 || fail "cannot build the bcryptprimitives stand-in"
cp "$setup" "$WINEPREFIX/drive_c/Setup.exe"

program_dir="$WINEPREFIX/drive_c/Program Files/Mailpull"
data_dir="$WINEPREFIX/drive_c/ProgramData/Mailpull"
worker_log() { cat "$data_dir"/logs/mailpull.*.log 2>/dev/null || true; }
count() { worker_log | grep -c "$1" || true; }
worker='C:\Program Files\Mailpull\mailpull-worker.exe'

service_state() { wine_run sc query "$SERVICE" | sed -n 's/.*STATE *: *[0-9]* *\([A-Z_]*\).*/\1/p'; }

wait_for_state() {
    local wanted=$1 state=
    for _ in $(seq 1 60); do
        state=$(service_state || true)
        [ "$state" = "$wanted" ] && return 0
        sleep 1
    done
    fail "the service is '${state:-not registered}', expected $wanted"
}

# `status` over the named pipe; the worker needs a moment after the SCM says "running".
wait_for_status() {
    local out=
    for _ in $(seq 1 30); do
        if out=$(wine_run "$worker" status) && grep -q '^user1 ' <<<"$out"; then
            echo "$out"
            return 0
        fi
        sleep 1
    done
    echo "$out"
    fail "mailpull-worker.exe status did not answer over the named pipe"
}

say "2a. service install fails (a file stands where the data folder goes): exit 3, rolled back"
printf 'not a folder\n' >"$data_dir"
run_setup 3 "Setup.exe /S with a file where the data folder goes" 'C:\Setup.exe' /S
[ ! -e "$program_dir" ] || { ls -la "$program_dir"; fail "the failed installation left $program_dir"; }
if wine_run reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\Mailpull' >/dev/null 2>&1; then
    fail "the failed installation left an Add/Remove Programs entry"
fi
if wine_run sc query "$SERVICE" | grep -q STATE; then fail "the failed installation registered the service"; fi
setup_log=$(find "$WINEPREFIX/drive_c/users" -name Mailpull-Setup.log | head -n 1)
[ -n "$setup_log" ] && grep -q 'data folder' "$setup_log" \
    || fail "%TEMP%\\Mailpull-Setup.log does not hold the reason: $(cat "$setup_log" 2>/dev/null)"
rm -f "$data_dir" "$setup_log"

say "2. Setup.exe /S installs silently"
run_setup 0 "Setup.exe /S" 'C:\Setup.exe' /S
for file in mailpull-worker.exe mailpull-manager.exe uninstall.exe mailpull.sample.toml; do
    [ -f "$program_dir/$file" ] || fail "$file was not installed"
done
[ -f "$data_dir/mailpull.toml" ] || fail "the sample configuration was not installed"
[ -f "$WINEPREFIX/drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/Mailpull/Mailpull Pull Manager.lnk" ] \
    || fail "no Start-menu shortcut to the Pull Manager"
wine_run reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\Mailpull' /v UninstallString \
    | grep -q 'uninstall.exe' || fail "no Add/Remove Programs entry"

say "2b. the Pull Manager opens without elevation; the installer made the group and joined the user"
level=$(grep -ao 'requestedExecutionLevel level="[A-Za-z]*"' "$program_dir/mailpull-manager.exe" | head -n 1)
[ "$level" = 'requestedExecutionLevel level="asInvoker"' ] \
    || fail "mailpull-manager.exe's manifest asks for '$level', expected asInvoker (no UAC prompt)"
level=$(grep -ao 'requestedExecutionLevel level="[A-Za-z]*"' "$program_dir/mailpull-worker.exe" | head -n 1)
[ -n "$level" ] || fail "mailpull-worker.exe carries no manifest"
setup_log=$(find "$WINEPREFIX/drive_c/users" -name Mailpull-Setup.log | head -n 1)
grep -qF '> net localgroup "Mailpull Administrators" /add' "$setup_log" \
    || fail "the installer did not create the group Mailpull Administrators: $(cat "$setup_log")"
wine_user=$(wine_run cmd /c 'echo %USERDOMAIN%\%USERNAME%' | tail -n 1)
grep -qF "> net localgroup \"Mailpull Administrators\" \"$wine_user\" /add" "$setup_log" \
    || fail "the installer did not add the installing user $wine_user to the group: $(cat "$setup_log")"

say "3. the service runs"
wait_for_state RUNNING
# wine's sc has no `qc`: read the registration from the registry (Start 2 = automatic).
wine_run reg query "HKLM\\System\\CurrentControlSet\\Services\\$SERVICE" /v Start \
    | grep -q 'REG_DWORD *0x2$' || fail "the service does not start automatically"
# Its own virtual account, not LocalSystem (wine runs every service as one user: what the
# account may do is checked on Windows only, see README "What only Windows can show").
wine_run reg query "HKLM\\System\\CurrentControlSet\\Services\\$SERVICE" /v ObjectName \
    | grep -qF 'NT SERVICE\MailpullWorker' || fail "the service does not run as NT SERVICE\\MailpullWorker"

eventlog_key='HKLM\System\CurrentControlSet\Services\EventLog\Application\MailpullWorker'
wine_run reg query "$eventlog_key" /v EventMessageFile | grep -q 'EventCreate.exe' \
    || fail "the installer did not register the Event Log source MailpullWorker"

say "4. mailpull-worker.exe status answers over the named pipe"
wait_for_status
for _ in $(seq 1 30); do [ -f "$data_dir/state.sqlite3" ] && break; sleep 1; done
[ -f "$data_dir/state.sqlite3" ] || fail "the service wrote no state database in %ProgramData%\\Mailpull"

say "4b. set-password stores a password in the service's credential store over the pipe"
said=$(printf 'wine-test-password-4b\n' | wine_run "$worker" set-password user1) \
    || fail "set-password failed: $said"
echo "$said" | grep -q 'password of profile "user1" stored in the OS keyring' \
    || fail "set-password did not report the stored password: $said"
if echo "$said" | grep -q 'wine-test-password-4b'; then fail "set-password printed the password back"; fi
if grep -rqa 'wine-test-password-4b' "$data_dir"; then fail "the password landed in %ProgramData%\\Mailpull"; fi
# Wine keeps the Credential Manager (CredWriteW) in its registry, the secret encrypted.
wine_run reg query 'HKCU\Software\Wine\Credential Manager\Generic: profile:user1.mailpull' \
    | grep -q 'keyring' || fail "no credential profile:user1 in the credential store"

say "5. check accepts the sample configuration"
wine_run "$worker" check || fail "check refused the installed sample configuration"

[ "$(count 'worker started')" = 1 ] || { worker_log; fail "expected one worker start so far"; }

say "6. an upgrade keeps the configuration and the state"
echo "# edited before the upgrade" >>"$data_dir/mailpull.toml"
run_setup 0 "the second Setup.exe /S (an upgrade)" 'C:\Setup.exe' /S
[ "$(count 'worker stopped')" = 1 ] || { worker_log; fail "the upgrade did not stop the old worker cleanly"; }
grep -q '^# edited before the upgrade$' "$data_dir/mailpull.toml" || fail "the upgrade replaced the configuration"
[ -f "$data_dir/state.sqlite3" ] || fail "the upgrade lost the state database"
wait_for_state RUNNING
wait_for_status >/dev/null

say "6b. a configuration the worker refuses: service start fails and says where the reason is"
cp "$data_dir/mailpull.toml" "$work/good.toml"
printf '\n[[profile]]\nname = "broken"\n' >>"$data_dir/mailpull.toml"
wine_run "$worker" service stop >/dev/null || fail "service stop failed"
if out=$(wine_run "$worker" service start); then echo "$out"; fail "service start accepted a broken configuration"; fi
grep -q 'service-errors.log' <<<"$out" || { echo "$out"; fail "service start did not name the error log"; }
grep -q 'invalid configuration' "$data_dir/logs/service-errors.log" \
    || fail "service-errors.log does not hold the configuration error"
grep -q 'stays stopped (no automatic restart)' "$data_dir/logs/service-errors.log" \
    || fail "service-errors.log does not say that a configuration error is not retried"
say "6c. Setup.exe /S with that configuration: exit 4, installed, the message names service-errors.log"
run_setup 4 "Setup.exe /S with a configuration the worker refuses" 'C:\Setup.exe' /S
[ -f "$program_dir/uninstall.exe" ] || fail "a service that did not start rolled the installation back"
setup_log=$(find "$WINEPREFIX/drive_c/users" -name Mailpull-Setup.log | head -n 1)
grep -q 'service-errors.log' "$setup_log" || fail "Mailpull-Setup.log does not name service-errors.log"
cp "$work/good.toml" "$data_dir/mailpull.toml"
wine_run "$worker" service start >/dev/null || fail "service start failed with the repaired configuration"
wait_for_status >/dev/null

say "7. the silent uninstaller removes service and programs, keeps the data"
wine_run "C:\\Program Files\\Mailpull\\uninstall.exe" /S || fail "uninstall.exe /S exited with an error"
# The NSIS uninstaller copies itself to %TEMP% and returns at once: wait for it.
for _ in $(seq 1 60); do [ -e "$program_dir" ] || break; sleep 1; done
[ ! -e "$program_dir" ] || { ls -la "$program_dir"; fail "the program files are still there"; }
if wine_run sc query "$SERVICE" | grep -q STATE; then fail "the service is still registered"; fi
if wine_run reg query "$eventlog_key" 2>/dev/null | grep -q EventMessageFile; then
    fail "the uninstaller left the Event Log source"
fi
setup_log=$(find "$WINEPREFIX/drive_c/users" -name Mailpull-Setup.log | head -n 1)
grep -qF '> net localgroup "Mailpull Administrators" /delete' "$setup_log" \
    || fail "the uninstaller did not remove the group Mailpull Administrators"
[ -f "$data_dir/mailpull.toml" ] || fail "the uninstaller removed the configuration"
[ -f "$data_dir/state.sqlite3" ] || fail "the uninstaller removed the state database"
# The SCM stop reached the worker, which finished its work and logged its clean stop.
[ "$(count 'worker stopped')" = 3 ] || { worker_log; fail "the uninstaller did not stop the worker cleanly"; }
[ "$(count 'worker started')" = 3 ] || { worker_log; fail "expected exactly three worker starts"; }

say "8. uninstall.exe /S /REMOVEDATA (\"Remove my data\" ticked) removes the data too"
run_setup 0 "the third Setup.exe /S" 'C:\Setup.exe' /S
wait_for_state RUNNING
grep -q '^# edited before the upgrade$' "$data_dir/mailpull.toml" || fail "reinstalling replaced the configuration"
wait_for_status >/dev/null

say "8a. the Pull Manager under wine: its notification-area icon, a balloon when the worker stops"
# In a wine desktop with its shell (taskbar and notification area, as on Windows), on Xvfb.
display=
for n in $(seq 90 99); do [ -e "/tmp/.X11-unix/X$n" ] || { display=":$n"; break; }; done
[ -n "$display" ] || fail "no free X display number for Xvfb"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 1 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
DISPLAY=$display MAILPULL_MANAGER_LOG=info timeout 300 "$WINE" explorer /desktop=shell,1280x800 \
    "C:\\Program Files\\Mailpull\\mailpull-manager.exe" >"$work/manager.log" 2>&1 &
manager_pid=$!
manager_log() { tr -d '\r' <"$work/manager.log"; }
wait_manager_log() {
    for _ in $(seq 1 "$2"); do manager_log | grep -qF "$1" && return 0; sleep 1; done
    manager_log | tail -n 40
    fail "the Pull Manager under wine did not log \"$1\" within $2 s"
}
wait_manager_log "tray icon shown (notification area)" 90
# The window reaches the running worker first (its status every second), then loses it.
sleep 5
wine_run "$worker" service stop >/dev/null || fail "service stop failed"
wait_manager_log "desktop notification shown: Mailpull: the worker stopped" 30
if manager_log | grep -q "desktop notification not shown"; then manager_log; fail "a balloon was refused"; fi
sleep 2
DISPLAY=$display import -window root "$work/wine-tray.png" 2>/dev/null \
    && [ -n "${WINE_TRAY_SHOT:-}" ] && cp "$work/wine-tray.png" "$WINE_TRAY_SHOT"
wine_run taskkill /IM mailpull-manager.exe /F >/dev/null || fail "cannot end the Pull Manager"
wait "$manager_pid" 2>/dev/null || true
kill "$xvfb_pid" 2>/dev/null || true
wine_run "$worker" service start >/dev/null || fail "service start failed after 8a"
wait_for_status >/dev/null

credential='HKCU\Software\Wine\Credential Manager\Generic: profile:user1.mailpull'
wine_run reg query "$credential" | grep -q keyring || fail "the password of 4b is not in the credential store before the uninstall"
wine_run "C:\\Program Files\\Mailpull\\uninstall.exe" /S /REMOVEDATA || fail "uninstall.exe /S /REMOVEDATA exited with an error"
for _ in $(seq 1 60); do [ -e "$program_dir" ] || [ -e "$data_dir" ] || break; sleep 1; done
[ ! -e "$program_dir" ] || fail "the program files are still there"
[ ! -e "$data_dir" ] || { ls -la "$data_dir"; fail "/REMOVEDATA left %ProgramData%\\Mailpull"; }
# "Remove my data" also removes the stored passwords (forget-secrets over the pipe, before
# the service stopped).
if wine_run reg query "$credential" 2>/dev/null | grep -q keyring; then
    fail "/REMOVEDATA left the password of profile user1 in the credential store"
fi
if wine_run sc query "$SERVICE" | grep -q STATE; then fail "the service is still registered"; fi

say "PASS"
