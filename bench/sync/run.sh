#!/usr/bin/env bash
# Fleet sync (issue 18): push-to-all-hosts latency of 1 MiB and 20 MiB service directories at
# N = 3 hosts in network namespaces, and `fleet push` of 100 small services. Prints markdown.
# Needs root (network namespaces), nats-server, caddy. RUNS=3 bench/sync/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
exec node --import tsx bench/sync/bench.ts "$@"
