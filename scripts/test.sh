#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (README command b; .ci/run runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npm ci --no-audit --no-fund
bash scripts/cache-runtime-deps.sh
npm run build
log=$(mktemp)
set +e
npx tap 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# tap's summary is "# { total: N, pass: P, fail: F, ... }"; print the plain closing line too.
summary=$(grep -E '^# \{ total:' "$log" | tail -n 1 || true)
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary"); pass=${pass:-0}
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary"); fail=${fail:-0}
skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<<"$summary"); skip=${skip:-0}
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
if [ "$pass" -eq 0 ]; then echo "no test ran" >&2; exit 1; fi
exit "$status"
