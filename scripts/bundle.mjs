#!/usr/bin/env node
// Builds what ships: the CLI (and the gateway it starts) as an esbuild bundle in dist/conductor/.
//
//   node scripts/bundle.mjs        (npm run bundle; `npm run build` type-checks first)
//
// Why a bundle: a CLI run is a new process, and Node's ESM loader pays per module (resolve,
// read, compile): the tsc output loaded ~200 modules for `service ls`. The bundle is one entry
// (dist/conductor/bin.js, the path the package's "bin" and the systemd units name) and chunks
// split at every dynamic import(), so what a command never needs (the gateway and Fastify, zod,
// jose, node-tar, NATS, ws, execa...) stays in chunks that are never read. `test/unit/bundle.test.ts`
// checks that a start never reaches them.
//
// All code lands in one folder (dist/conductor/), so `import.meta.url` means the same folder for
// every module: package.json two levels up (model/version.ts), bin.js (host/install.ts) and the
// C spawner (cgi/spawner.ts, built there by `npm run build:spawner`) next to it.
//
// Dependencies are bundled except node-pty (a native addon, built at install) and jsonc-parser
// (errors/jsonc.ts require()s it synchronously on first use, which a bundler cannot see): those two
// stay runtime dependencies in package.json, the rest are devDependencies. Their licences are
// collected into dist/THIRD-PARTY-LICENSES.txt.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as esbuild from 'esbuild'
import { flattenBarrels } from './bundle-barrels.mjs'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ENTRY = 'conductor/bin.ts'
export const OUT_DIR = 'dist/conductor'
/** Loaded from node_modules at run time (see above); every other package is bundled. */
export const EXTERNAL = ['node-pty', 'jsonc-parser']
const SOURCE_TOPS = ['conductor', 'gateway', 'policies', 'cgi', 'caddy', 'errors']

/**
 * A digest of everything the bundle is built from (our sources, the package version, the
 * lockfile): conductor/model/validation-cache.ts keys its remembered verdicts on it, so a
 * rebuilt or upgraded CLI never trusts a verdict of another build's schemas.
 */
export function buildFingerprint(root = repoRoot) {
  const hash = createHash('sha256')
  const files = []
  const walk = dir => {
    for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name)
      if (e.isDirectory()) walk(rel)
      else if (rel.endsWith('.ts')) files.push(rel)
    }
  }
  for (const top of SOURCE_TOPS) walk(top)
  for (const f of [...files.sort(), 'package.json', 'package-lock.json']) {
    if (!existsSync(path.join(root, f))) continue
    hash
      .update(f)
      .update('\0')
      .update(readFileSync(path.join(root, f)))
      .update('\0')
  }
  return hash.digest('base64url').slice(0, 22)
}

// The CommonJS packages in the bundle call require() for Node's built-ins; an ES module has no
// require, so each chunk gets one (esbuild's shim uses it when present).
const REQUIRE_SHIM =
  "import { createRequire as __conductorCreateRequire } from 'node:module'; " +
  'const require = __conductorCreateRequire(import.meta.url);'

/** The esbuild options of the shipped bundle (`test/unit/bundle.test.ts` builds with them too). */
export function bundleOptions(root = repoRoot) {
  return {
    absWorkingDir: root,
    entryPoints: [ENTRY],
    outdir: OUT_DIR,
    entryNames: '[name]',
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: EXTERNAL,
    // node_modules may be a symbolic link (git worktrees share one): keep paths inside the
    // repository, so the source maps and the metafile say node_modules/PKG/..., not where it lives.
    preserveSymlinks: true,
    banner: { js: REQUIRE_SHIM },
    define: { CONDUCTOR_BUILD_FINGERPRINT: JSON.stringify(buildFingerprint(root)) },
    // Stack traces: bin.ts enables source maps, so they name conductor/.../file.ts:LINE. No
    // sources inside the maps: the positions are what a trace needs, and smaller maps load faster.
    sourcemap: 'linked',
    // Fewer bytes to compile at each start (commander alone is half comments); names stay.
    minifyWhitespace: true,
    sourcesContent: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    // Imports of a folder's index.ts read as imports of the files behind it (bundle-barrels.mjs).
    plugins: [flattenBarrels(root)]
  }
}

/** Writes dist/THIRD-PARTY-LICENSES.txt: name, version and licence text of each bundled package. */
function writeLicenses(root, metafile) {
  const packages = new Map()
  for (const input of Object.keys(metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)
    if (m === null) continue
    const dir = path.join(root, input.slice(0, m.index + m[0].length))
    if (!packages.has(dir)) packages.set(dir, m[1])
  }
  const entries = [...packages]
    .map(([dir, name]) => {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'))
      const file = readdirSync(dir).find(f => /^licen[cs]e(\.|$)/i.test(f))
      const text =
        file === undefined
          ? `(no licence file; package.json says: ${pkg.license ?? 'unknown'})`
          : readFileSync(path.join(dir, file), 'utf8').trim()
      return { name, version: pkg.version, license: pkg.license, text }
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version))
  const seen = new Set()
  const body = entries
    .filter(e => {
      const k = `${e.name}@${e.version}`
      return !seen.has(k) && seen.add(k)
    })
    .map(e => `${e.name} ${e.version} (${e.license ?? 'see below'})\n\n${e.text}\n`)
  writeFileSync(
    path.join(root, 'dist/THIRD-PARTY-LICENSES.txt'),
    'Conductor bundles the following packages into dist/conductor/ (scripts/bundle.mjs).\n\n' +
      body.join('\n' + '-'.repeat(78) + '\n\n')
  )
}

export async function bundle(root = repoRoot) {
  // Nothing stale may ship: the tsc layout (dist/gateway/..., dist/cgi/...) of older builds goes too.
  rmSync(path.join(root, 'dist'), { recursive: true, force: true })
  mkdirSync(path.join(root, OUT_DIR), { recursive: true })
  const result = await esbuild.build(bundleOptions(root))
  writeLicenses(root, result.metafile)
  return result
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const started = performance.now()
  const { metafile } = await bundle()
  const js = Object.entries(metafile.outputs).filter(([f]) => f.endsWith('.js'))
  const kib = js.reduce((n, [, o]) => n + o.bytes, 0) / 1024
  console.log(
    `bundle: ${js.length} files, ${kib.toFixed(0)} KiB in ${OUT_DIR}/ (${(performance.now() - started).toFixed(0)} ms)`
  )
}
