#!/usr/bin/env bash
# Forward-auth benchmark (issues 5, 15): a) no auth, b) forward_auth to a Caddy static_response,
# f) forward_auth to a bare node:http server (the Node floor), g) the same answering the gateway's
# headers for c, c) gateway bearer, d) gateway JWT
# ES256, e) gateway JWT RS256, c-fastify) c without the fast path, all through one real Caddy.
# Prints a markdown table (rps, p99, ratios to b and to f, p99 added over f). Needs caddy and
# wrk (scripts/setup-host.sh). Env: BENCH_DURATION (8s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2), BENCH_GATEWAY_LOG (warn), BENCH_CASES (e.g. c,d: only those, with b and f).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v caddy >/dev/null || { echo "caddy not installed" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
exec node --import tsx bench/forward-auth/bench.ts
