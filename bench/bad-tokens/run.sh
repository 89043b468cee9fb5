#!/usr/bin/env bash
# Bad-token flood against 1 and 31 JWT entries (issue 13 item 5). Env: BENCH_TOKENS, BENCH_ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx bench/bad-tokens/bench.ts
