#!/usr/bin/env bash
# CLI cold start side by side with `node -e 0` in one run: `--version`, `service ls` of 50
# services, `reload --dry-run` and a no-op `reload` of 100 services on a real systemd user
# manager (bench/startup/cli.ts says how). Prints a markdown table. Run as root on the test
# machine; RUNS=N rounds (default 20); BENCH_BEFORE_BIN=PATH/bin.js adds the rows of another build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/conductor/bin.js ] || npm run build >/dev/null
exec node --import tsx bench/startup/cli.ts "$@"
