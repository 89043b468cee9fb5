import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { bundleMetafile, chunksHolding, recordLoadsPreload } from '../../../harness/bundle.js'
import { binPath, repoRoot, type CliResult } from '../../../harness/cli.js'
import { startGatewayProcess } from '../../../harness/gateway.js'
import { waitFor } from '../../../harness/ports.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The shipped CLI is the esbuild bundle in dist/conductor/ (scripts/bundle.mjs), and the CLI
// tests run it. Here, on the built bundle as a process: it is the bundle of these sources; which
// of its files a command reads (no zod once the validation cache knows the service files); stack
// traces name the TypeScript sources; the gateway finds the C fork server next to the chunks.

const dist = path.dirname(binPath)
const built = existsSync(binPath)
const notBuilt = built ? false : 'dist/conductor/bin.js is missing: npm run build (or npm run bundle)'

const expected = Object.keys((await bundleMetafile()).outputs)
  .filter(f => f.endsWith('.js'))
  .map(f => path.basename(f))
  .sort()
/** The chunks holding zod (the model schemas, snippets, policies load it through import()). */
const zodChunks = new Set(await chunksHolding('zod'))

/**
 * Runs the bundle as an operator would: through env(1) without NODE_OPTIONS, since tap adds its
 * own to every child (process tracking, with Node's source map support turned on).
 */
async function runBundle(args: string[], env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<CliResult> {
  return await new Promise(resolve => {
    const argv = ['-u', 'NODE_OPTIONS', process.execPath, ...nodeArgs, binPath, ...args]
    execFile('env', argv, { env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

/** Runs the bundle and returns the names of the dist/conductor/ files it loaded. */
async function loadedBy(t: Test, args: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const dir = tempDir(t, 'cnd-loaded-')
  const log = path.join(dir, 'loaded')
  const preload = recordLoadsPreload(dir, 'CONDUCTOR_TEST_LOADED')
  const r = await runBundle(args, { ...env, CONDUCTOR_TEST_LOADED: log }, ['--require', preload])
  t.equal(r.code, 0, `conductor ${args.join(' ')}: ${r.stderr}`)
  const prefix = `${dist}/`
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(u => u.startsWith(prefix))
    .map(u => u.slice(prefix.length))
}

t.test(
  'dist/conductor/ is the bundle of these sources (else every CLI test runs stale code)',
  { skip: notBuilt },
  async t => {
    const present = readdirSync(dist)
      .filter(f => f.endsWith('.js'))
      .sort()
    t.same(
      present,
      expected,
      'the chunks of an in-memory build of the sources are the built ones: rebuild with npm run bundle'
    )
  }
)

t.test('service ls loads zod only while the validation cache does not know the files', { skip: notBuilt }, async t => {
  const root = tempDir(t, 'cnd-bundle-ls-')
  const files: Record<string, object> = { 'base/conductor-service.json': { app_name: 'b', config: { TAG: 'v1' } } }
  for (let i = 0; i < 5; i++)
    files[`services/s${i}/conductor-service.json`] = {
      inherit: ['../../base/conductor-service.json'],
      config: { I: String(i) }
    }
  writeTree(root, files)
  const env = { CONDUCTOR_CACHE_DIR: path.join(root, 'cache'), HOME: root }
  const args = ['--services-dir', path.join(root, 'services'), 'service', 'ls']
  const first = await loadedBy(t, args, env)
  t.ok(
    first.some(f => zodChunks.has(f)),
    `the first run validates the service files with zod (${first.length} files)`
  )
  const second = await loadedBy(t, args, env)
  t.same(
    second.filter(f => zodChunks.has(f)),
    [],
    `the second run trusts the cache: no zod (${second.length} files: ${second.join(' ')})`
  )
  const version = await loadedBy(t, ['--version'], env)
  t.ok(
    version.length < second.length,
    `--version reads fewer files (${version.length}) than service ls (${second.length})`
  )
})

// commander requires node:child_process at its top (for executable subcommands, which Conductor
// does not declare); the bundle gives it a stand-in that loads the module on first use
// (scripts/bundle.mjs), so a start that runs no process does not load child_process, net, dgram.
t.test('--version loads no node:child_process', { skip: notBuilt }, async t => {
  const dir = tempDir(t, 'cnd-builtins-')
  const preload = path.join(dir, 'builtins.cjs')
  writeFileSync(
    preload,
    "process.on('exit', () => require('node:fs').writeFileSync(process.env.BUILTINS, process.moduleLoadList.join('\\n')))\n"
  )
  const list = path.join(dir, 'builtins.txt')
  const r = await runBundle(['--version'], { BUILTINS: list }, ['--require', preload])
  t.equal(r.code, 0, r.stderr)
  const loaded = readFileSync(list, 'utf8').split('\n')
  t.ok(loaded.includes('NativeModule fs'), 'premise: the list names built-in modules')
  t.notOk(loaded.includes('NativeModule child_process'), 'no child_process')
})

t.test("an internal error's stack trace names the TypeScript sources", { skip: notBuilt }, async t => {
  const root = tempDir(t, 'cnd-bundle-trace-')
  mkdirSync(path.join(root, 'boom-services'))
  // readdirSync of the services directory throws a TypeError: an internal error, printed with its stack.
  const inject =
    'data:text/javascript,' +
    encodeURIComponent(
      "import fs from 'node:fs'; import { syncBuiltinESMExports } from 'node:module'\n" +
        'const readdirSync = fs.readdirSync\n' +
        "fs.readdirSync = function (p, ...rest) { if (String(p).endsWith('boom-services')) throw new TypeError('injected'); return readdirSync.call(this, p, ...rest) }\n" +
        'syncBuiltinESMExports()'
    )
  const r = await runBundle(['--services-dir', path.join(root, 'boom-services'), 'service', 'ls'], { HOME: root }, [
    '--import',
    inject
  ])
  t.equal(r.code, 1)
  t.match(r.stderr, /^conductor: internal error: TypeError: injected\n/)
  // file:// URLs: mapped by conductor/cli/stack-traces.ts (Node's own mapping prints paths).
  t.match(
    r.stderr,
    /\n {4}at loadAllServices \(file:\/\/\S+\/conductor\/model\/service\.ts:\d+:\d+\)\n/,
    'the frame names service.ts and its line'
  )
  t.notMatch(r.stderr, /at loadAllServices \(\S+dist\/conductor\//, "not the bundle's chunk")
})

t.test('the bundled gateway starts the fork server built next to the chunks', { skip: notBuilt }, async t => {
  const spawner = path.join(dist, 'conductor-spawner')
  if (!existsSync(spawner)) {
    t.skip('no C compiler: dist/conductor/conductor-spawner was not built', () => {})
    return
  }
  const root = tempDir(t, 'cnd-bundle-gw-')
  const cgi = path.join(repoRoot, 'test/fixtures/functions/cgi.sh')
  writeTree(root, {
    'etc/conductor/services/fx/conductor-service.json': { app_name: 'fx', functions: [{ name: 'cgi', exec: [cgi] }] }
  })
  const gw = await startGatewayProcess(t, { env: { CONDUCTOR_ROOT: root, HOME: root } })
  const children = (): string[] =>
    readdirSync('/proc')
      .filter(p => /^\d+$/.test(p))
      .flatMap(p => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === gw.proc.pid
            ? [readlinkSync(`/proc/${p}/exe`)]
            : []
        } catch {
          return []
        }
      })
  await waitFor(`a child of the gateway running ${spawner}`, () => children().includes(spawner), 10_000)
  t.ok(children().includes(spawner), 'the gateway runs dist/conductor/conductor-spawner')
})
