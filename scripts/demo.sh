#!/usr/bin/env bash
# The demo (README command a): installs, builds, and shows the example services.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npm ci --no-audit --no-fund >/dev/null
npm run build >/dev/null
conductor() { node dist/conductor/bin.js --services-dir examples/services "$@"; }
step() { printf '\n\033[1m$ conductor %s\033[0m\n' "$*"; conductor "$@"; }
step service ls
step service env hello
step service show hello
step deployment env hello --pod-ip 10.88.0.5
step _ deployment template hello proxy --pod-ip 10.88.0.5
