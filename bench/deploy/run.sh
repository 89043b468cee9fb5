#!/usr/bin/env bash
# Zero-downtime deploys measured (issue 8): N deploys in a row of a busybox httpd pod behind a
# real Caddy, with wrk sending requests through Caddy the whole time. Prints a markdown table.
# Run as root on the test machine: DEPLOYS=20 bench/deploy/run.sh
# BENCH_BEFORE_BIN=PATH/dist/conductor/bin.js alternates the deploys with another build.
# BENCH_LOAD=0: no wrk load, the deploy alone (its own time on a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
exec node --import tsx bench/deploy/run.ts "$@"
