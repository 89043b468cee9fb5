#!/usr/bin/env bash
# Packaging check from nothing (issue 9): test/e2e/package.test.ts with prepack building dist/ in
# a copy of the sources (the suite reuses the dist/ it just built). npm pack, then an --offline
# global install of the tarball into a temporary prefix, then the installed conductor runs
# --version, --help and schema service, all from a private npm cache. ~2-3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
# A private npm cache, warmed online by the install the test then runs offline.
CONDUCTOR_TEST_NPM_CACHE=$(mktemp -d /tmp/conductor-test-npm-cache.XXXXXX)
export CONDUCTOR_TEST_NPM_CACHE
trap 'rm -rf "$CONDUCTOR_TEST_NPM_CACHE"' EXIT
bash scripts/cache-runtime-deps.sh "$CONDUCTOR_TEST_NPM_CACHE"
CONDUCTOR_TEST_PACK_BUILD=1 npx tap --reporter=tap test/e2e/package.test.ts
