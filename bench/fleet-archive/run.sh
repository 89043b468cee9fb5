#!/usr/bin/env bash
# Fleet service archives (issue 18): pack, unpack + validate, and install times of a 1 MiB and
# a 20 MiB service directory. Prints a markdown table. RUNS=10 bench/fleet-archive/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx bench/fleet-archive/bench.ts "$@"
