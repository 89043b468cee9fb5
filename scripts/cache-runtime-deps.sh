#!/usr/bin/env bash
# Usage: scripts/cache-runtime-deps.sh CACHE_DIR
#
# Warms CACHE_DIR, a private npm cache, for the packaging test (test/e2e/package.test.ts), which
# installs the packed tarball with --offline because tests send nothing beyond loopback. It runs
# online, before the tests, exactly the install the test then runs offline: `npm install --global
# --allow-scripts=node-pty` of a tarball of this package.json into a throw-away prefix, with
# --cache CACHE_DIR. Installing a package tarball resolves its dependencies anew (npm honours a
# shrinkwrap only for packages from the registry), so what the offline install needs is the
# registry metadata and the tarballs of the versions a fresh resolution picks now: the warm-up
# leaves exactly those in CACHE_DIR, and nothing else writes there. The machine's shared cache
# (~/.npm) is neither read nor written, so other npm commands, before or during the suite, cannot
# change what the test finds (issue 13: a shared cache refreshed by another `npm` between warm-up
# and test made the offline install want versions that were never fetched, ENOTCACHED).
#
# The tarball holds only package.json and README.md (dist/ need not be built yet): what an install
# resolves depends on package.json alone. CACHE_DIR/conductor-warmed.json records the dependencies
# it was warmed for; the test refuses a cache warmed for others. scripts/test.sh and
# scripts/pack-check.sh run this into a new temporary directory each time; ~50 s (the registry,
# and node-pty's native build, as in the test).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${1:?usage: scripts/cache-runtime-deps.sh CACHE_DIR (a private npm cache for test/e2e/package.test.ts)}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src" "$tmp/pack"
cp package.json README.md "$tmp/src/"
tarball=$(cd "$tmp/src" && npm pack --ignore-scripts --cache "$cache" --pack-destination "$tmp/pack" --loglevel=error | tail -n 1)
npm install --global --allow-scripts=node-pty --prefix "$tmp/prefix" --cache "$cache" --no-audit --no-fund --loglevel=error \
  "$tmp/pack/$tarball" >/dev/null
node -e 'process.stdout.write(JSON.stringify({ dependencies: require("./package.json").dependencies }, null, 2) + "\n")' \
  > "$cache/conductor-warmed.json"
echo "private npm cache for the packaging test warmed: $cache"
