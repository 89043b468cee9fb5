#!/usr/bin/env bash
# Fault test of `conductor deploy` at every step (issue 9): the e2e test test/e2e/conductor/deploy/crash.test.ts
# with all five steps (start, ready, switch, drain, stop) instead of the suite's one (drain).
# Each step: deploy paused there by CONDUCTOR_DEPLOY_PAUSE_AT, kill -9, `conductor reload`; load
# through Caddy the whole time. Needs what the suite needs (scripts/setup-host.sh). ~4 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/conductor/bin.js ] || npm run build >/dev/null
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/test/fixtures/containers.conf}
CONDUCTOR_TEST_DEPLOY_CRASH_STEPS=all exec npx tap --reporter=tap test/e2e/conductor/deploy/crash.test.ts
