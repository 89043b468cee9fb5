#!/usr/bin/env bash
# Forward-auth benchmark (issue 5): a) no auth, b) forward_auth to a Caddy static_response,
# c) gateway bearer, d) gateway JWT ES256, e) gateway JWT RS256, all through one real Caddy.
# Prints a markdown table (rps, p99, ratios to b). Needs caddy and wrk (scripts/setup-host.sh).
# Env: BENCH_DURATION (8s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_GATEWAY_LOG (warn).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v caddy >/dev/null || { echo "caddy not installed" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
exec node --import tsx bench/forward-auth/bench.ts
