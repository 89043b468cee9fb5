#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (README command b; .ci/run runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npm ci --no-audit --no-fund
# Formatter and linter (biome.json): a line width of 120, one style; fails on any finding.
npm run lint
# The packaging test installs offline from a private npm cache, warmed here (online) by the same
# install: nothing else on the machine reads or writes it (scripts/cache-runtime-deps.sh).
CONDUCTOR_TEST_NPM_CACHE=$(mktemp -d /tmp/conductor-test-npm-cache.XXXXXX)
export CONDUCTOR_TEST_NPM_CACHE
log=$(mktemp)
trap 'rm -rf "$CONDUCTOR_TEST_NPM_CACHE" "$log"' EXIT
bash scripts/cache-runtime-deps.sh "$CONDUCTOR_TEST_NPM_CACHE"
npm run build
set +e
npx tap 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# tap's summary is "# { total: N, pass: P, fail: F, ... }"; print the plain closing line too.
summary=$(grep -E '^# \{ total:' "$log" | tail -n 1 || true)
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary"); pass=${pass:-0}
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary"); fail=${fail:-0}
skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<<"$summary"); skip=${skip:-0}
echo "$pass passed, $fail failed, $skip skipped"
if [ "$pass" -eq 0 ]; then echo "no test ran" >&2; exit 1; fi
exit "$status"
