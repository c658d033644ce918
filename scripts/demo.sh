#!/usr/bin/env bash
# The Mailpull demo: installs what it needs (Debian, as root), builds, and shows mail moving
# from a private "ISP" Dovecot through mailpull-worker into a local Postfix.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
cargo build --quiet -p mailpull-worker -p mailpull-tests --bin mailpull-worker --bin mailpull-demo
exec "${CARGO_TARGET_DIR:-target}/debug/mailpull-demo"
