#!/usr/bin/env bash
# Fleet placement (issue 19), the pure half: the planner placing 1,000 services on 50 machines
# (goal: all placed in < 1 s), plus `conductor fleet plan` as a process on the same fleet.
# Prints a markdown table. SERVICES=1000 MACHINES=50 RUNS=20 bench/scheduler/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build >/dev/null
exec node --import tsx bench/scheduler/placements.ts "$@"
