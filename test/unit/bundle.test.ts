import t from 'tap'
import type * as esbuild from 'esbuild'
// @ts-expect-error: a plain ES module without types (the build script)
import { EXTERNAL, OUT_DIR } from '../../scripts/bundle.mjs'
import { bundleMetafile } from '../harness/bundle.js'

// The shipped CLI is an esbuild bundle split at every dynamic import() (scripts/bundle.mjs). A
// start reads only the entry and the chunks it imports statically, so what a command never
// needs must sit behind an import() that the command does not take: this test builds the bundle
// in memory with the shipped options and follows the static imports between its files, from
// bin.js through the CLI to each command module. A static `import { z } from 'zod'` anywhere on
// the way to `service ls` puts ~750 KB of zod into every `service ls` (~100 ms on these
// machines): exactly what this fails on.

type Metafile = esbuild.Metafile
type Output = Metafile['outputs'][string]

/** Packages no command may load at its start: each is loaded by the import() that needs it. */
const HEAVY = [
  'zod',
  'jose',
  'tar',
  'ws',
  'node-pty',
  'fastify',
  '@fastify/',
  'pino',
  'prom-client',
  'execa',
  '@nats-io/',
  'avvio',
  'ajv'
]

const outputs = (await bundleMetafile()).outputs
const entry = `${OUT_DIR as string}/bin.js`

/** The files a start reads when it loads `file`: it and, recursively, its static imports. */
function staticClosure(file: string): Set<string> {
  const seen = new Set<string>()
  const visit = (f: string): void => {
    if (seen.has(f)) return
    seen.add(f)
    for (const i of outputs[f]?.imports ?? []) if (i.kind === 'import-statement' && i.external !== true) visit(i.path)
  }
  visit(file)
  return seen
}

/** The output file that a dynamic import() of this source file loads. */
function chunkOf(source: string): string {
  const found = Object.entries(outputs).find(([, o]: [string, Output]) => o.entryPoint === source)
  if (found === undefined) throw new Error(`no chunk has ${source} as its entry point (is it imported dynamically?)`)
  return found[0]
}

const packageOf = (input: string): string | undefined => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]
const isHeavy = (pkg: string): boolean => HEAVY.some(h => (h.endsWith('/') ? pkg.startsWith(h) : pkg === h))

/**
 * Heavy packages and gateway sources among the inputs of the given files. `conductor gateway`
 * may load gateway/index.ts, the light surface it is designed to be (constants, address parsing;
 * the gateway itself behind `serveGateway`'s import()), and nothing heavier.
 */
function heavyInputs(files: Set<string>, allowGatewaySurface = false): string[] {
  const surface = new Set([
    'gateway/index.ts',
    'gateway/lazy.ts',
    'gateway/defaults.ts',
    'gateway/errors.ts',
    'gateway/listen.ts'
  ])
  const out = new Set<string>()
  for (const f of files) {
    for (const input of Object.keys(outputs[f]?.inputs ?? {})) {
      const pkg = packageOf(input)
      if (pkg !== undefined && isHeavy(pkg)) out.add(pkg)
      if (input.startsWith('gateway/') && !(allowGatewaySurface && surface.has(input))) out.add(input)
    }
  }
  return [...out].sort()
}

const kib = (files: Set<string>): number =>
  Math.round([...files].reduce((n, f) => n + (outputs[f]?.bytes ?? 0), 0) / 1024)

const start = staticClosure(entry)

t.test('the heavy packages are bundled, into chunks of their own (the test is not vacuous)', async t => {
  const bundled = new Set(
    Object.values(outputs)
      .flatMap(o => Object.keys(o.inputs))
      .map(packageOf)
      .filter(p => p !== undefined)
  )
  for (const pkg of ['zod', 'jose', 'fastify', 'ws', 'prom-client', 'execa', 'commander'])
    t.ok(bundled.has(pkg), `${pkg} is in the bundle`)
  for (const pkg of EXTERNAL as string[]) t.notOk(bundled.has(pkg), `${pkg} stays external (a runtime dependency)`)
  t.same(
    Object.keys(outputs).filter(
      f => !f.startsWith(`${OUT_DIR as string}/`) || f.slice(OUT_DIR.length + 1).includes('/')
    ),
    [],
    'every file in one flat folder (import.meta.url: package.json, bin.js and the spawner are found from any chunk)'
  )
})

t.test('a start (bin.js and the CLI) loads no heavy package and no gateway code', async t => {
  t.same(heavyInputs(start), [], `start: ${start.size} files, ${kib(start)} KiB`)
})

// Every command module must keep its heavy parts behind import(): `service ls` and `reload` are
// the ones the start-up goals are measured on, the others are typed by hand just as often.
const commands = Object.values(outputs)
  .map(o => o.entryPoint)
  .filter((e): e is string => e?.startsWith('conductor/cli/commands/') === true)
t.test('each command module, as loaded for its command, loads no heavy package and no gateway code', async t => {
  t.ok(
    commands.includes('conductor/cli/commands/service.ts') && commands.includes('conductor/cli/commands/reload.ts'),
    `command chunks: ${commands.join(' ')}`
  )
  for (const c of commands.sort()) {
    const files = new Set([...start, ...staticClosure(chunkOf(c))])
    t.same(
      heavyInputs(files, c === 'conductor/cli/commands/gateway.ts'),
      [],
      `${c}: ${files.size} files, ${kib(files)} KiB`
    )
  }
})

// An import of a folder's index.ts takes only the files that define what it names
// (scripts/bundle-barrels.mjs), and the lifecycle commands load the reconciler when they run: a
// `service ls` reads the service model, asks systemd, and nothing else.
t.test('`service ls` loads the modules it runs, not whole folders nor the reconciler', async t => {
  const ls = new Set([...start, ...staticClosure(chunkOf('conductor/cli/commands/service.ts'))])
  const inputs = [...ls].flatMap(f => Object.keys(outputs[f]?.inputs ?? {})).filter(i => packageOf(i) === undefined)
  t.ok(inputs.includes('conductor/host/systemd.ts'), `premise: the inputs are read (${inputs.length})`)
  t.same(
    inputs
      .filter(
        i =>
          i.endsWith('/index.ts') ||
          /^(cgi|caddy|policies|gateway)\//.test(i) ||
          /^conductor\/(reconcile|proxy|deploy|attach|cluster|fleet|scheduler|archive)\//.test(i)
      )
      .sort(),
    [],
    'no index.ts, no function runner, no Caddy, no reconciler'
  )
})

t.test('the gateway, zod and the other heavy packages are reached through import() only', async t => {
  // The served gateway listens (and answers /auth) before it imports app.ts: Fastify is one more
  // import() away from serve.ts.
  t.notOk(
    heavyInputs(staticClosure(chunkOf('gateway/serve.ts'))).includes('fastify'),
    'the serve chunk listens without Fastify'
  )
  t.ok(
    heavyInputs(staticClosure(chunkOf('gateway/app.ts'))).includes('fastify'),
    'the gateway app chunk brings Fastify when it is imported'
  )
  t.ok(
    heavyInputs(staticClosure(chunkOf('conductor/model/schemas.ts'))).includes('zod'),
    'the model schemas bring zod when imported'
  )
  t.ok(
    heavyInputs(staticClosure(chunkOf('caddy/snippet-schema.ts'))).includes('zod'),
    'the snippet schema brings zod when imported'
  )
})
