#!/usr/bin/env bash
# Takes assets/manager-wizard.png: the Pull Manager's first run — a configuration with no
# profile opens the set-up wizard — on its first step with "My ISP or web host" chosen, and
# assets/manager-wizard-delivery.png: its third step with the Exchange preset (STARTTLS and the
# certificate file of a self-signed Exchange). Drawn under a virtual X display (Xvfb, Mesa's
# software OpenGL): a real worker with an empty configuration and the real manager window,
# clicked and typed into with xdotool. Run on Debian with Xvfb, ImageMagick and xdotool
# installed (scripts/screenshot.sh installs them).
#
#   bash scripts/screenshot-wizard.sh [OUTPUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-assets/manager-wizard.png}
width=1180
height=800

die() { echo "screenshot-wizard: error: $*" >&2; exit 1; }
say() { echo "screenshot-wizard: $*"; }

say "building the worker and the manager"
cargo build -q -p mailpull-worker -p mailpull-manager
bin="${CARGO_TARGET_DIR:-target}/debug"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

display=:$(( 80 + RANDOM % 9 ))
Xvfb "$display" -screen 0 "${width}x${height}x24" -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)

# The first run: a configuration with no profile at all.
config="$work/mailpull.toml"
printf '[worker]\nstate_dir = "%s"\n' "$work/state" >"$config"
"$bin/mailpull-worker" run --config "$config" >"$work/worker.log" 2>&1 &
pids+=($!)
sleep 1

say "starting the manager on $display"
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
click() { DISPLAY="$display" xdotool mousemove "$1" "$2" click 1; sleep 1; }
type_text() {
    DISPLAY="$display" xdotool windowfocus "$window" type --delay 40 "$1"
    sleep 1
}
shot() {
    mkdir -p "$(dirname "$1")"
    DISPLAY="$display" /usr/bin/import -window root "$1"
    say "saved $1"
}
# Step 1: "My ISP or web host", the server's name typed.
click 370 209
click 600 262
type_text "mail.myisp.com"
shot "$out"
# Steps 1 and 2 for Microsoft 365 (no search needed: Next), then step 3 with Exchange.
click 355 140
click 319 543
click 700 121
type_text "alice@contoso.com"
click 700 145
type_text "7f3c9a62-1d4e-4b8a-9c55-2e0b8f1a6d21"
click 370 543
click 343 122
click 700 236
type_text "exch01.contoso.local:25"
click 700 282
type_text "C:\\ProgramData\\Mailpull\\exchange.cer"
shot "${out%.png}-delivery.png"
