#!/usr/bin/env bash
# Fills the npm cache with what `npm install -g ./conductor-*.tgz` resolves on a fresh machine:
# the runtime dependencies' registry metadata and the tarballs of the versions a fresh
# resolution picks. `npm ci` fetches only the lockfile's tarballs and no metadata, and
# installing a package tarball resolves its dependencies anew (npm honours a shrinkwrap only
# for packages from the registry), so the packaging test (test/e2e/package.test.ts), which
# installs offline because tests send nothing beyond loopback, needs this first.
# scripts/test.sh and scripts/pack-check.sh run it; ~3 s with a warm cache.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=$(node -p 'Object.entries(require("./package.json").dependencies).map(([n, v]) => n + "@" + v).join(" ")')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086 # one argument per dependency
npm install --prefix "$tmp" --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error $deps >/dev/null
