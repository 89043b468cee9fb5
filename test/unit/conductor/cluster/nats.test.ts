import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { installCluster, natsPackage, readIdentity } from '../../../../conductor/cluster/index.js'
import { resolveRoots } from '../../../../conductor/model/index.js'
import { chunksHolding, chunksOfSource } from '../../../harness/bundle.js'
import { freePort, waitFor } from '../../../harness/ports.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// natsPackage() (conductor/cluster/nats.ts): the NATS client packages are CommonJS, and in the
// shipped esbuild bundle a dynamic import() of one yields a namespace with `default` only (its
// module.exports), where Node and tsx also give named exports. Without the unwrapping the daemon
// failed every connect with "connect is not a function". The second test runs the shipped chunks
// of dist/conductor/ (npm run build) against a real nats-server: tsx alone never shows the bug.

const execFileP = promisify(execFile)
const DIST = path.resolve(import.meta.dirname, '../../../../dist/conductor')

t.test('natsPackage: module.exports from a {default} namespace, a namespace with named exports as is', async t => {
  const exportsObject = { connect: () => 'connected' }
  t.equal(await natsPackage(Promise.resolve({ default: exportsObject })), exportsObject, 'the bundle shape: unwrapped')
  const named = { connect: () => 'named' }
  t.equal(await natsPackage(Promise.resolve(named)), named, 'no default: the namespace itself')
  const node = await natsPackage(import('@nats-io/transport-node'))
  t.type(node.connect, 'function', 'under Node/tsx (named exports and default): connect is a function')
})

// The shipped chunks run in a plain Node process, as bin.js runs them (required: they are
// CommonJS, scripts/bundle.mjs): the test process has the tsx loader, which adds named exports to
// an ES module whose default is an object, hiding the bug.
const PROBE = `
const [dist, transportChunk, clusterChunk, fleetChunk, ccJson] = process.argv.slice(1)
const { createRequire } = await import('node:module')
const require = createRequire(dist + '/')
const load = f => require('./' + f)
const out = {}
const transport = load(transportChunk)
out.transportKeys = Object.keys(transport)
const cluster = load(clusterChunk)
const fleet = load(fleetChunk)
const cc = { ...JSON.parse(ccJson), env: process.env, now: Date.now, log: () => {} }
try {
  // What doctor's NATS check does first (conductor/cluster/doctor.ts): connect, ask JetStream.
  const auth = JSON.parse(require('node:fs').readFileSync(cc.identity.paths.state, 'utf8')).nats_auth
  const nc = await cluster.connectLocal({ clientPort: cc.identity.clientPort, auth }, { timeoutMs: 5000 })
  try {
    await cluster.jetStreamReady(nc, 5000)
    out.check = 'connected, JetStream answers'
  } finally {
    await nc.close()
  }
  const r = await fleet.withStore(cc, async s => {
    await s.records.put('probe', 'v1')
    await s.objects.putBlob({ name: 'probe' }, new TextEncoder().encode('bytes'))
    return [(await s.records.get('probe'))?.string(), new TextDecoder().decode(await s.objects.getBlob('probe'))]
  })
  out.value = r[0]
  out.blob = r[1]
} catch (err) {
  out.error = String(err && err.message)
}
console.log(JSON.stringify(out))
`

/** The one dist/ chunk FILES names (the same chunk names as an in-memory build), checked to exist. */
function chunkFile(t: Test, files: string[], what: string): string {
  t.equal(files.length, 1, `one chunk holds ${what}: ${files.join(' ')}`)
  if (!existsSync(path.join(DIST, files[0]!))) throw new Error(`${files[0]} is not in ${DIST}: run npm run build`)
  return files[0]!
}

t.test('the shipped bundle connects to a real nats-server: connect, JetStream, KV and the object store', async t => {
  const root = tempDir(t, 'conductor-natspkg-')
  const [client, route, monitor] = [await freePort(), await freePort(), await freePort()]
  writeTree(root, {
    'etc/conductor/host.json': {
      hostname: 'lone',
      cluster: { hostname: '127.0.0.1', listen: `127.0.0.1:${route}`, client_port: client, monitor_port: monitor }
    }
  })
  const roots = resolveRoots({ root }, {})
  const host = JSON.parse(readFileSync(roots.hostFile, 'utf8'))
  await installCluster(roots, host, process.env)
  const identity = await readIdentity(roots, host, process.env)
  let log = ''
  const proc = spawn('nats-server', ['-c', identity.paths.natsConfig], { stdio: ['ignore', 'pipe', 'pipe'] })
  proc.stdout.on('data', (d: Buffer) => (log += d.toString()))
  proc.stderr.on('data', (d: Buffer) => (log += d.toString()))
  t.teardown(async () => {
    if (proc.exitCode !== null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGKILL')
    await exited
  })
  // The server's own log says when it is ready: every client below is the bundle's.
  await waitFor('nats-server is ready', () => /Server is ready/.test(log), 10_000, 50)

  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const args = [
    DIST,
    chunkFile(t, await chunksHolding('@nats-io/transport-node'), '@nats-io/transport-node'),
    chunkFile(t, await chunksOfSource('conductor/cluster/nats.ts'), 'conductor/cluster/nats.ts'),
    chunkFile(t, await chunksOfSource('conductor/fleet/store.ts'), 'conductor/fleet/store.ts'),
    JSON.stringify({ identity, roots, host })
  ]
  const { stdout, stderr } = await execFileP(process.execPath, ['--input-type=module', '-e', PROBE, ...args], {
    env,
    timeout: 60_000
  })
  const out = JSON.parse(stdout) as {
    transportKeys: string[]
    check?: string
    value?: string
    blob?: string
    error?: string
  }
  t.same(out.transportKeys, ['default'], 'premise: in plain Node the bundled package has only `default` (not vacuous)')
  t.equal(out.error, undefined, `no error in the bundle's NATS calls (stderr: ${stderr.slice(-500)})`)
  t.match(
    out.check,
    /^connected, JetStream answers$/,
    `connect and JetStream (doctor's NATS check) through the bundle: ${out.check}`
  )
  t.equal(out.value, 'v1', 'a KV record written and read through the bundle')
  t.equal(out.blob, 'bytes', 'an object written and read through the bundle')
})
