#!/usr/bin/env node
// Builds what ships: the CLI (and the gateway it starts) as an esbuild bundle in dist/conductor/.
//
//   node scripts/bundle.mjs        (npm run bundle; `npm run build` type-checks first)
//
// Why a bundle: a CLI run is a new process, and Node pays per module (resolve, read, compile):
// the tsc output loaded ~200 modules for `service ls`. The bundle is one entry
// (dist/conductor/bin.js, the path the package's "bin" and the systemd units name) and chunks
// split at every dynamic import(), so what a command never needs (the gateway and Fastify, zod,
// jose, node-tar, NATS, ws, execa...) stays in chunks that are never read. `test/unit/bundle.test.ts`
// checks that a start never reaches them.
//
// Why CommonJS: esbuild splits chunks only in ES module format, but Node 20's ES module loader
// costs about 1 ms of a start per file (an asynchronous read, resolution, a facade per built-in
// module: `import ... from 'node:fs'` alone loads all of node:stream), where require() of the same
// file is synchronous and cheap. So the chunks are built as ES modules, then each is converted
// to CommonJS (toCommonJs below: `import()` becomes a require() behind a promise, and the source
// maps are composed), and dist/conductor/package.json says "commonjs". `conductor service ls`
// started ~13 ms sooner, `--version` ~15 ms (BENCHMARKS.md, issue 15, third pass).
//
// All code lands in one folder (dist/conductor/), so `import.meta.url` means the same folder for
// every module: package.json two levels up (model/version.ts), bin.js (host/install.ts) and the
// C spawner (cgi/spawner.ts, built there by `npm run build:spawner`) next to it. In the CommonJS
// chunks it is `__filename`'s URL.
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

/**
 * commander requires node:child_process at its top, for executable subcommands Conductor never
 * declares: that loads child_process, net and dgram into every start, which `service ls` (systemd
 * asked over a socket) and `--version` never use. Its require() gets this stand-in instead, which
 * loads the module on first use.
 */
function lazyChildProcessForCommander() {
  return {
    name: 'conductor-commander-lazy-child-process',
    setup(build) {
      build.onResolve({ filter: /^node:child_process$/ }, args =>
        /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
          ? { path: 'child_process', namespace: 'conductor-lazy-builtin' }
          : undefined
      )
      build.onLoad({ filter: /.*/, namespace: 'conductor-lazy-builtin' }, () => ({
        contents:
          'let m\nmodule.exports = new Proxy({}, { get: (_, k) => (m ??= require("node:child_process"))[k] })\n',
        loader: 'js'
      }))
    }
  }
}

/** What `import.meta.url` becomes in the CommonJS chunks (toCommonJs). */
const IMPORT_META_URL = '__conductorImportMetaUrl'

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
    // Imports of a folder's index.ts read as imports of the files behind it (bundle-barrels.mjs);
    // commander's child_process loaded on first use.
    plugins: [flattenBarrels(root), lazyChildProcessForCommander()]
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

/**
 * One chunk of the ES module build as CommonJS, with its source map composed onto the first one
 * (esbuild reads an inline input map): static imports become require() calls at the top,
 * `import()` a require() behind a resolved promise (still lazy: the chunk is read when the call
 * runs), `import.meta.url` the URL of `__filename`.
 * @param {string} name the chunk's file name
 * @param {string} code the ES module chunk, without its sourceMappingURL comment
 * @param {string} map its source map
 */
export function toCommonJs(name, code, map) {
  const input = `${code}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(map).toString('base64')}\n`
  const out = esbuild.transformSync(input, {
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcefile: name,
    sourcemap: 'external',
    sourcesContent: false,
    minifyWhitespace: true,
    legalComments: 'none',
    supported: { 'dynamic-import': false },
    define: { 'import.meta.url': IMPORT_META_URL },
    banner: code.includes('import.meta.url')
      ? `var ${IMPORT_META_URL}=require("node:url").pathToFileURL(__filename).href;`
      : '',
    logLevel: 'warning'
  })
  return { code: `${out.code}//# sourceMappingURL=${name}.map\n`, map: out.map }
}

export async function bundle(root = repoRoot) {
  // Nothing stale may ship: the tsc layout (dist/gateway/..., dist/cgi/...) of older builds goes too.
  rmSync(path.join(root, 'dist'), { recursive: true, force: true })
  mkdirSync(path.join(root, OUT_DIR), { recursive: true })
  const result = await esbuild.build({ ...bundleOptions(root), write: false })
  const maps = new Map(result.outputFiles.filter(f => f.path.endsWith('.js.map')).map(f => [f.path, f.text]))
  for (const f of result.outputFiles) {
    if (!f.path.endsWith('.js')) continue
    const name = path.basename(f.path)
    const code = f.text.replace(/\n\/\/# sourceMappingURL=\S+\n?$/, '\n')
    const cjs = toCommonJs(name, code, maps.get(`${f.path}.map`) ?? '')
    writeFileSync(f.path, cjs.code, { mode: name === 'bin.js' ? 0o755 : 0o644 })
    writeFileSync(`${f.path}.map`, cjs.map)
  }
  // Makes every .js here CommonJS, whatever the package's own "type" is; no name, no version:
  // model/version.ts walks on up to the package's package.json.
  writeFileSync(path.join(root, OUT_DIR, 'package.json'), '{ "type": "commonjs" }\n')
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
