#!/usr/bin/env bash
# Takes assets/manager.png: the Pull Manager with three profiles and a busy live log,
# assets/manager-edit.png: the same profile being edited (the Remote section), and
# assets/manager-held.png: the Held messages page of "bob" (two messages Postfix defers),
# assets/manager-history.png: bob's History, assets/manager-route.png: the routing preview of a
# message for carol and alice under bob's catch-all, and assets/manager-light.png: the window
# in the light theme, drawn
# under a virtual X display (Xvfb, Mesa's software OpenGL). The scene is real: private
# Dovecot and Postfix, a real worker with three profiles (tests/src/bin/mailpull-screenshot-rig.rs),
# and the real manager window, clicked on "alice" with xdotool. Run as root on Debian; it
# installs what it needs (Xvfb, ImageMagick, xdotool) and the test servers' packages.
#
#   bash scripts/screenshot.sh [OUTPUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-assets/manager.png}
width=1180
height=800

die() { echo "screenshot: error: $*" >&2; exit 1; }
say() { echo "screenshot: $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the test servers need it)"
bash scripts/setup-deps.sh
need=()
for pkg in xvfb imagemagick xdotool libgl1-mesa-dri libegl1; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" = installed ] || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq >/tmp/screenshot-apt.log 2>&1 || die "apt-get update failed; see /tmp/screenshot-apt.log"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
        >>/tmp/screenshot-apt.log 2>&1 || die "apt-get install failed; see /tmp/screenshot-apt.log"
fi

say "building the worker, the manager and the scene"
cargo build -q -p mailpull-worker -p mailpull-manager
cargo build -q -p mailpull-tests --bin mailpull-screenshot-rig
bin="${CARGO_TARGET_DIR:-target}/debug"

work=$(mktemp -d)
pids=()
cleanup() {
    touch "$work/stop"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

display=:$(( 90 + RANDOM % 9 ))
Xvfb "$display" -screen 0 "${width}x${height}x24" -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)

say "starting Dovecot, Postfix and a worker with three profiles"
"$bin/mailpull-screenshot-rig" 180 "$work/stop" >"$work/rig.out" 2>"$work/rig.err" &
rig=$!
for _ in $(seq 1 600); do
    grep -q '^READY ' "$work/rig.out" && break
    kill -0 "$rig" 2>/dev/null || { cat "$work/rig.err" >&2; die "the scene did not start"; }
    sleep 0.1
done
config=$(sed -n 's/^READY //p' "$work/rig.out")
[ -n "$config" ] || die "the scene never became ready"

say "starting the manager on $display"
# A fresh home: no remembered window size or layout from an earlier run.
HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" DISPLAY="$display" \
    LIBGL_ALWAYS_SOFTWARE=1 "$bin/mailpull-manager" --config "$config" \
    >"$work/manager.log" 2>&1 &
pids+=($!)
window=""
for _ in $(seq 1 100); do
    window=$(DISPLAY="$display" xdotool search --name "Pull Manager" 2>/dev/null | head -n1 || true)
    [ -n "$window" ] && break
    sleep 0.2
done
[ -n "$window" ] || { cat "$work/manager.log" >&2; die "the manager window never appeared"; }
DISPLAY="$display" xdotool windowmove "$window" 0 0 windowsize "$window" "$width" "$height"
sleep 4
# Select the first profile so the form shows it.
DISPLAY="$display" xdotool mousemove 78 75 click 1
sleep 2
# Edit it: the Remote section as a form, then Cancel.
DISPLAY="$display" xdotool mousemove 367 44 click 1
sleep 2
mkdir -p "$(dirname "$out")"
DISPLAY="$display" /usr/bin/import -window root "${out%.png}-edit.png"
say "saved ${out%.png}-edit.png"
DISPLAY="$display" xdotool mousemove 629 44 click 1
sleep 2
# And run its connection test, whose report shows above the form.
DISPLAY="$display" xdotool mousemove 731 44 click 1
# Let the log fill: alice gets new mail every 2 s and polls every 10 s, old-isp keeps failing.
sleep 25
mkdir -p "$(dirname "$out")"
DISPLAY="$display" /usr/bin/import -window root "$out"
say "saved $out ($(/usr/bin/identify -format '%wx%h' "$out"))"
# bob's Held messages page: select bob, then the "Held messages (2)" tab under the buttons.
DISPLAY="$display" xdotool mousemove 77 138 click 1
sleep 2
DISPLAY="$display" xdotool mousemove 420 76 click 1
sleep 2
DISPLAY="$display" /usr/bin/import -window root "${out%.png}-held.png"
say "saved ${out%.png}-held.png"
# bob's History: the tab beside Held messages; the totals, the chart and the last deliveries.
DISPLAY="$display" xdotool mousemove 532 76 click 1
sleep 3
DISPLAY="$display" /usr/bin/import -window root "${out%.png}-history.png"
say "saved ${out%.png}-history.png"
# The routing preview of a message for carol and alice under bob's catch-all: the file's
# path typed into "Message file", then Open (which previews it).
printf 'From: Ann Example <ann@example.com>\r\nTo: carol@local.test\r\nCc: alice@local.test, someone@elsewhere.example\r\nSubject: Team lunch on Friday\r\n\r\nSee you there.\r\n' >"$work/lunch.eml"
DISPLAY="$display" xdotool mousemove 624 76 click 1
sleep 2
DISPLAY="$display" xdotool windowfocus --sync "$window" mousemove 540 185 click 1
sleep 0.5
DISPLAY="$display" xdotool type --delay 40 "$work/lunch.eml"
# Let the window take the last typed key before Open reads the field.
sleep 1
DISPLAY="$display" xdotool mousemove 729 185 click 1
sleep 3
DISPLAY="$display" /usr/bin/import -window root "${out%.png}-route.png"
say "saved ${out%.png}-route.png"
# The light theme (the title bar's choice), on alice's profile.
DISPLAY="$display" xdotool mousemove 1098 12 click 1
sleep 1
DISPLAY="$display" xdotool mousemove 78 75 click 1
sleep 1
DISPLAY="$display" xdotool mousemove 325 76 click 1
sleep 3
DISPLAY="$display" /usr/bin/import -window root "${out%.png}-light.png"
say "saved ${out%.png}-light.png"
# The scene stops its worker and servers itself once asked (killing it would leave them).
touch "$work/stop"
wait "$rig" || true
