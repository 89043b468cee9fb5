import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import {
  installCluster,
  readIdentity,
  readState,
  selfRecord,
  type ClusterState,
  type Identity
} from '../../../../conductor/cluster/index.js'
import { convergeNatsFiles } from '../../../../conductor/cluster/converge.js'
import { writeState } from '../../../../conductor/cluster/state.js'
import { resolveRoots } from '../../../../conductor/model/index.js'
import { freePort, waitFor } from '../../../harness/ports.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The NATS config Conductor renders (conductor/cluster/nats-config.ts), started for real with
// nats-server 2.9: a lone host's standalone JetStream; two hosts clustered by routes with
// pinned keys (no shared secret); the local password required; a member dropped from one
// host's config is cut off at its reload (routes closed, new ones refused).

interface Host {
  id: Identity
  state: ClusterState
  proc?: ChildProcess
  log: string
}

async function makeHost(t: { teardown: (fn: () => void) => void }, name: string): Promise<Host> {
  const root = tempDir(t, `conductor-nats-${name}-`)
  const [client, route, monitor] = [await freePort(), await freePort(), await freePort()]
  writeTree(root, {
    'etc/conductor/host.json': {
      hostname: name,
      cluster: { hostname: '127.0.0.1', listen: `127.0.0.1:${route}`, client_port: client, monitor_port: monitor }
    }
  })
  const roots = resolveRoots({ root }, {})
  const host = JSON.parse(readFileSync(roots.hostFile, 'utf8'))
  await installCluster(roots, host, process.env)
  const identity = await readIdentity(roots, host, process.env)
  return { id: identity, state: readState(identity.paths), log: '' }
}

function start(t: { teardown: (fn: () => void) => void }, h: Host): void {
  const proc = spawn('nats-server', ['-c', h.id.paths.natsConfig], { stdio: ['ignore', 'pipe', 'pipe'] })
  proc.stdout!.on('data', (d: Buffer) => {
    h.log += d.toString()
  })
  proc.stderr!.on('data', (d: Buffer) => {
    h.log += d.toString()
  })
  h.proc = proc
  t.teardown(() => {
    proc.kill('SIGKILL')
  })
}

const conn = async (h: Host, system = false) =>
  await connect({
    servers: `127.0.0.1:${h.id.clientPort}`,
    user: system ? h.state.nats_auth.system_user : h.state.nats_auth.user,
    pass: system ? h.state.nats_auth.system_password : h.state.nats_auth.password,
    ignoreClusterUpdates: true,
    timeout: 2000
  })

async function routes(h: Host): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${h.id.monitorPort}/routez`)
  return ((await res.json()) as { num_routes: number }).num_routes
}

t.test('a lone host: standalone JetStream, loopback client port that needs the password', async t => {
  const a = await makeHost(t, 'lone')
  const text = readFileSync(a.id.paths.natsConfig, 'utf8')
  t.notMatch(text, /cluster \{/, 'no cluster block: nats-server 2.9 refuses JetStream with a cluster and no routes')
  start(t, a)
  await waitFor(
    'nats-server answers',
    async () => {
      await (await conn(a)).close()
      return true
    },
    10_000,
    100
  )
  const nc = await conn(a)
  const kv = await new Kvm(nc).create('probe', { replicas: 1 })
  await kv.put('k', 'v')
  t.equal((await kv.get('k'))?.string(), 'v', 'JetStream works')
  await nc.close()
  await t.rejects(
    connect({ servers: `127.0.0.1:${a.id.clientPort}`, timeout: 2000 }),
    /Authorization|auth/i,
    'no password: refused'
  )
  await t.rejects(
    connect({ servers: `127.0.0.1:${a.id.clientPort}`, user: 'conductor', pass: 'wrong', timeout: 2000 }),
    /Authorization|auth/i
  )
})

t.test('two hosts: routes with pinned keys; a member dropped from the config is cut off at the reload', async t => {
  const a = await makeHost(t, 'a')
  const b = await makeHost(t, 'b')
  const ra = selfRecord(a.id)
  const rb = selfRecord(b.id)
  for (const [h, other] of [
    [a, rb],
    [b, ra]
  ] as const) {
    h.state = { ...h.state, clustered: true, cluster_name: 'test-pair', members: [selfRecord(h.id), other] }
    writeState(h.id.paths, h.state)
    t.equal(convergeNatsFiles(h.id, h.state), 'restart', `${h.id.id}: joining a cluster calls for a restart`)
    // What the daemon records once it restarted the server.
    h.state.applied = { clustered: true, cluster_name: 'test-pair' }
  }
  const text = readFileSync(a.id.paths.natsConfig, 'utf8')
  t.match(text, /pinned_certs: \["[0-9a-f]{64}", "[0-9a-f]{64}"\]/, 'both keys pinned')
  t.match(text, `routes: ["nats-route://${rb.route!}"]`)
  t.notMatch(text, /authorization/, 'no route password')
  start(t, a)
  start(t, b)
  await waitFor('a route between a and b', async () => (await routes(a)) === 1 && (await routes(b)) === 1, 15_000, 100)
  const nca = await conn(a)
  await waitFor(
    'JetStream cluster ready',
    async () => {
      await new Kvm(nca).create('pair', { replicas: 2 })
      return true
    },
    20_000,
    200
  )
  const kvb = await new Kvm(await conn(b)).open('pair')
  await (await new Kvm(nca).open('pair')).put('x', '1')
  await waitFor('the write on a is read on b', async () => (await kvb.get('x'))?.string() === '1', 5000)
  t.pass('an R2 bucket across both')

  // b out of a's members: a's next config drops b's route and pin.
  a.state = { ...a.state, members: [selfRecord(a.id)] }
  t.equal(convergeNatsFiles(a.id, a.state), 'reload', 'membership changed: a reload, no restart')
  t.notMatch(readFileSync(a.id.paths.natsConfig, 'utf8'), rb.route!, "b's route is gone from a's config")
  a.proc!.kill('SIGHUP')
  await waitFor('a has no route to b', async () => (await routes(a)) === 0, 10_000, 100)
  // b keeps dialing a with its own (still valid) certificate: a refuses it for good.
  await new Promise(resolve => setTimeout(resolve, 2500))
  t.equal(await routes(a), 0, "b's new route attempts are refused (its key is no longer pinned)")
  t.match(a.log, /TLS|certificate|pinned/i, 'a logs the refused handshakes')
  t.equal(convergeNatsFiles(a.id, a.state), 'none', 'converged: nothing more to write')
  await nca.close()
})
