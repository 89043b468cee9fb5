#!/usr/bin/env bash
# Peers (issue 17): time from `conductor peer add` to every host converged (its policy trusts
# every member, its NATS server routes to every other), at N = 3 and 5 hosts in network
# namespaces, and the resident memory of each host's nats-server. Prints markdown tables.
# Needs root (network namespaces), nats-server, caddy. SIZES="3 5" bench/peers/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
exec node --import tsx bench/peers/bench.ts "$@"
