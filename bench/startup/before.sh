#!/usr/bin/env bash
# CLI startup of this build beside another checkout's build in one interleaved run (issue 14):
# `--version`, `service ls` and `reload --dry-run` over 50 services (CONDUCTOR_ROOT a temp dir,
# a real systemd user manager), plus `node -e 0` as the floor. Prints a markdown table of medians.
# Env: BENCH_BEFORE=DIR (required: a checkout with dist/ built), ROUNDS (5), RUNS (4 per round).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/conductor/bin.js ] || npm run build >/dev/null
[ -f "${BENCH_BEFORE:?BENCH_BEFORE=DIR required}/dist/conductor/bin.js" ] || { echo "build $BENCH_BEFORE first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine not installed" >&2; exit 1; }
exec node --import tsx bench/startup/before.ts
