#!/usr/bin/env bash
# Packaging check from nothing (issue 9): test/e2e/package.test.ts with prepack building dist/ in
# a copy of the sources (the suite reuses the dist/ it just built). npm pack, then an --offline
# global install of the tarball into a temporary prefix, then the installed conductor runs
# --version, --help and schema service. ~1-2 min.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/cache-runtime-deps.sh
CONDUCTOR_TEST_PACK_BUILD=1 exec npx tap --reporter=tap test/e2e/package.test.ts
