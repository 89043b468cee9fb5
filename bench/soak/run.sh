#!/usr/bin/env bash
# Soak test (issue 9): mixed traffic through a real Caddy -> gateway for N minutes (default 10):
# forward_auth with a static bearer token and with an ES256 JWT, a single-shot CGI function, a
# warm multi-shot (http-stdio) function and a warm parallel (daemon) function, all protected by a
# policy. Samples the gateway's RSS, open fds and child processes every 10 s and prints a table
# and the growth after warm-up (target < 5 %). Needs caddy and wrk (scripts/setup-host.sh).
# Usage: bench/soak/run.sh [MINUTES=10]; env SOAK_CONNECTIONS (8), SOAK_SAMPLE_SEC (10).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v caddy >/dev/null || { echo "caddy not installed" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
[ -f dist/conductor/bin.js ] || npm run build >/dev/null
exec node --import tsx bench/soak/soak.ts "${1:-10}"
