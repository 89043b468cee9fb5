import t from 'tap'
import { execFile, spawn, spawnSync } from 'node:child_process'
import {
  accessSync,
  constants,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync
} from 'node:fs'
import path from 'node:path'
import { repoRoot } from '../harness/cli.js'
import { freePort, waitFor } from '../harness/ports.js'
import { tempDir } from '../harness/tmp.js'

// Packaging (issue 9): `npm pack`, then `npm i -g --prefix TMP` of the tarball with --offline
// (tests send nothing beyond loopback), then the installed `conductor` runs. The pack happens in
// a copy of the sources, so nothing rewrites the dist/ other test files are running at the same
// time.
//
// Every npm command here uses the private npm cache named by CONDUCTOR_TEST_NPM_CACHE, never the
// machine's shared ~/.npm (issue 13: another npm refreshing the shared cache between warm-up and
// test made this install want versions nobody had fetched). scripts/cache-runtime-deps.sh, run
// online by scripts/test.sh and scripts/pack-check.sh before the tests, warms it with exactly the
// install done here. Without the variable (a test file run alone) the test is skipped, saying
// how to run it; the suite always sets it.
//
// In the suite the copy gets the dist/ that scripts/test.sh just built and packs with
// --ignore-scripts (the TypeScript build costs ~1 min on the loaded test machine);
// CONDUCTOR_TEST_PACK_BUILD=1 (scripts/pack-check.sh) lets prepack build it from nothing instead.

t.setTimeout(400_000)
const withPrepack = process.env.CONDUCTOR_TEST_PACK_BUILD === '1'
const npmCache = process.env.CONDUCTOR_TEST_NPM_CACHE
const noCache =
  npmCache === undefined || npmCache === ''
    ? 'CONDUCTOR_TEST_NPM_CACHE is unset: this test installs offline from a private npm cache warmed beforehand; ' +
      'run it with scripts/pack-check.sh (or scripts/cache-runtime-deps.sh DIR, then CONDUCTOR_TEST_NPM_CACHE=DIR)'
    : false

const run = async (
  file: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<{ code: number; stdout: string; stderr: string }> =>
  await new Promise(resolve => {
    execFile(file, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({
        code:
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1,
        stdout,
        stderr
      })
    })
  })

t.test(
  'npm pack builds and ships the bundle, schema and README; the tarball installs offline into a prefix and its conductor runs',
  { skip: noCache },
  async t => {
    const cache = npmCache!
    // The cache was warmed for these dependencies (a stale one would fail below with ENOTCACHED).
    const readDeps = (file: string): unknown =>
      existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { dependencies?: unknown }).dependencies : undefined
    const warmHint = `scripts/cache-runtime-deps.sh ${cache}`
    t.same(
      readDeps(path.join(cache, 'conductor-warmed.json')),
      readDeps(path.join(repoRoot, 'package.json')),
      `${cache} is warmed for this package.json (else run ${warmHint})`
    )
    const work = tempDir(t, 'conductor-pack-')
    const src = path.join(work, 'src')
    // The sources as git sees them (tracked and new files, nothing ignored: no dist/, no *.tgz).
    const files = spawnSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
    t.ok(files.includes('package.json'), 'git lists the sources')
    for (const f of files) {
      if (!existsSync(path.join(repoRoot, f))) continue // deleted in the work tree
      mkdirSync(path.dirname(path.join(src, f)), { recursive: true })
      copyFileSync(path.join(repoRoot, f), path.join(src, f))
    }
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(src, 'node_modules'))
    const pkgJson = JSON.parse(readFileSync(path.join(src, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
      files: string[]
    }
    t.equal(pkgJson.scripts.prepack, 'npm run build', 'prepack builds')
    t.same(pkgJson.files.sort(), ['README.md', 'dist/', 'schema/'])
    if (withPrepack) t.notOk(existsSync(path.join(src, 'dist')), 'no dist/ before packing: prepack must build it')
    else cpSync(path.join(repoRoot, 'dist'), path.join(src, 'dist'), { recursive: true })

    const pack = await run(
      'npm',
      ['pack', '--json', '--cache', cache, ...(withPrepack ? [] : ['--ignore-scripts'])],
      src
    )
    t.equal(pack.code, 0, pack.stderr.slice(-2000))
    const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{
      filename: string
      files: Array<{ path: string; mode: number }>
    }>
    const shipped = new Map(info[0]!.files.map(f => [f.path, f.mode]))
    // What ships is the bundle (scripts/bundle.mjs): bin.js and its chunks, all in dist/conductor/,
    // each with its source map, the licences of the bundled packages, the schema and the README.
    for (const f of [
      'package.json',
      'README.md',
      'dist/conductor/bin.js',
      'dist/conductor/bin.js.map',
      'dist/THIRD-PARTY-LICENSES.txt',
      'schema/conductor-service.schema.json'
    ]) {
      t.ok(shipped.has(f), `ships ${f}`)
    }
    const dist = [...shipped.keys()].filter(f => f.startsWith('dist/'))
    t.same(
      dist.filter(f => !f.startsWith('dist/conductor/') && f !== 'dist/THIRD-PARTY-LICENSES.txt'),
      [],
      'nothing but the bundle in dist/ (no tsc layout)'
    )
    t.same(
      dist.filter(f => f.slice('dist/conductor/'.length).includes('/')),
      [],
      'one flat folder: import.meta.url means the same place for every chunk'
    )
    const chunks = dist.filter(f => f.endsWith('.js'))
    t.ok(chunks.length > 10, `bin.js and the lazy chunks (${chunks.length} files)`)
    t.same(
      chunks.filter(f => !shipped.has(`${f}.map`)),
      [],
      'a source map for every chunk'
    )
    const hasCompiler = spawnSync('cc', ['--version']).status === 0
    if (hasCompiler)
      t.ok(
        ((shipped.get('dist/conductor/conductor-spawner') ?? 0) & 0o111) !== 0,
        'ships the fork server next to the bundle, executable'
      )
    t.same(
      [...shipped.keys()].filter(
        f => /^(test|bench|scripts|examples)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts'))
      ),
      [],
      'no tests, benches or TypeScript sources'
    )

    const prefix = path.join(work, 'prefix')
    const tarball = path.join(src, info[0]!.filename)
    // --offline --cache: dependencies come from the private cache only; a missing one fails here (ENOTCACHED).
    // --allow-scripts=node-pty, as the README tells operators: npm 11 runs node-pty's native build
    // in a global install but warns that nothing approved it (a project's allowScripts does not
    // carry over to a global install), and an npm that enforces allowScripts would skip it.
    const install = await run(
      'npm',
      [
        'install',
        '--global',
        '--allow-scripts=node-pty',
        '--prefix',
        prefix,
        '--offline',
        '--cache',
        cache,
        '--no-audit',
        '--no-fund',
        tarball
      ],
      work
    )
    const notCached = /ENOTCACHED/.test(install.stderr)
      ? `\n(the private npm cache lacks a dependency: warm it with ${warmHint}, as scripts/test.sh does)`
      : ''
    t.equal(install.code, 0, `${install.stderr.slice(-2000)}${notCached}`)
    t.notMatch(install.stderr, /install-scripts/, 'no install script left unapproved')
    const bin = path.join(prefix, 'bin/conductor')
    const env = { PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}`, HOME: work }
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }
    const version = await run(bin, ['--version'], work, env)
    t.equal(version.code, 0, version.stderr)
    t.equal(version.stdout.trim(), pkg.version)
    const help = await run(bin, ['--help'], work, env)
    t.equal(help.code, 0, help.stderr)
    for (const cmd of ['service', 'deploy', 'gateway', 'doctor', 'schema'])
      t.match(help.stdout, new RegExp(`^  ${cmd}\\b`, 'm'), `--help lists ${cmd}`)
    const schema = await run(bin, ['schema', 'service'], work, env)
    t.equal(schema.code, 0, schema.stderr)
    t.match(JSON.parse(schema.stdout), { type: 'object', properties: { pods: {}, functions: {} } })
    const installed = path.join(prefix, 'lib/node_modules/conductor')
    const modules = readdirSync(path.join(installed, 'node_modules'))
    for (const dep of ['node-pty', 'jsonc-parser']) t.ok(modules.includes(dep), `runtime dependency ${dep} installed`)
    for (const dep of ['fastify', 'zod', 'commander', 'jose', 'tap', 'esbuild'])
      t.notOk(modules.includes(dep), `${dep} is not installed (bundled, or a dev dependency)`)
    // The bundle needs nothing the install does not bring: every chunk loads from the installed
    // package alone (a require() the bundler missed would fail here, not in the repository, whose
    // node_modules holds everything). bin.js itself would run the CLI: it runs below.
    const load = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
    import { readdirSync } from 'node:fs'
    const dir = ${JSON.stringify(path.join(installed, 'dist/conductor'))}
    const files = readdirSync(dir).filter(f => f.endsWith('.js') && f !== 'bin.js')
    for (const f of files) await import(dir + '/' + f)
    console.log('loaded ' + files.length)`
      ],
      work,
      env
    )
    t.equal(load.code, 0, `every chunk loads: ${load.stderr.slice(-2000)}`)
    t.match(load.stdout, /^loaded \d+/)
    // The gateway (Fastify, prom-client, pino: all bundled) starts from the installed package.
    const root = path.join(work, 'root')
    mkdirSync(path.join(root, 'etc/conductor/policies'), { recursive: true })
    const port = await freePort()
    const gw = spawn(
      bin,
      ['--root', root, 'gateway', '--listen', `127.0.0.1:${port}`, '--metrics-listen', 'none', '--log-level', 'warn'],
      { env, stdio: ['ignore', 'ignore', 'pipe'] }
    )
    let gwErr = ''
    gw.stderr.on('data', (d: Buffer) => {
      gwErr += d.toString()
    })
    t.teardown(() => {
      if (gw.exitCode === null && gw.signalCode === null) gw.kill('SIGKILL')
    })
    await waitFor(
      `installed gateway /healthz (${gwErr.slice(-500)})`,
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
      30_000
    )
    const gwExit = new Promise(resolve => gw.once('exit', resolve))
    gw.kill('SIGTERM')
    t.equal(await gwExit, 0, 'the installed gateway stops cleanly')
    // jose (a lazy chunk) signs: a key pair for remote commands.
    const key = await run(
      bin,
      ['key', 'generate', 'ci', '--audience', 'ci.example', '--dir', path.join(work, 'keys'), '--json'],
      work,
      env
    )
    t.equal(key.code, 0, key.stderr)
    t.match(JSON.parse(key.stdout), { name: 'ci', alg: 'ES256' }, 'key generate (jose) works installed')
    t.notOk(existsSync(path.join(installed, 'node_modules/tap')), 'no dev dependencies')
    // Interactive commands need node-pty's native addon, built by its install script.
    const pty = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const p = await import('node-pty'); const t = p.spawn('/bin/echo', ['pty works'], {}); t.onData(d => process.stdout.write(d)); t.onExit(() => process.exit(0))"
      ],
      installed
    )
    t.match(pty.stdout, /pty works/, `the installed node-pty opens a pseudo-terminal ${pty.stderr.slice(-500)}`)
    if (hasCompiler)
      t.doesNotThrow(() => {
        accessSync(path.join(installed, 'dist/conductor/conductor-spawner'), constants.X_OK)
      }, 'installed fork server is executable')
  }
)
