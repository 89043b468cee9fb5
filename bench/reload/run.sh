#!/usr/bin/env bash
# No-op `conductor reload` over 100 services on a real systemd user manager and real Podman
# pods (issue 4: target under 1 s). Prints a markdown table. Run as root on the test machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
exec node --import tsx bench/reload/run.ts "$@"
