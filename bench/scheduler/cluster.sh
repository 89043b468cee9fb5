#!/usr/bin/env bash
# Fleet scheduler (issue 19), the live half: push-to-running and failover time on three hosts
# in network namespaces. Needs root (network namespaces), nats-server, caddy, a systemd user
# manager per host (scripts/user-manager.sh). Prints markdown. RUNS=5 FAILOVERS=2 bench/scheduler/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
exec node --import tsx bench/scheduler/cluster.ts "$@"
