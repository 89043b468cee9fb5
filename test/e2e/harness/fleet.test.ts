import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { Kvm, type KV } from '@nats-io/kv'
import { repoRoot } from '../../harness/cli.js'
import { hostPods, importBusybox, podman, startHostCaddy, startHostUserManager } from '../../harness/fleet-host.js'
import { connectNats, moveStreamLeader, replicaLastSeq, startNatsCluster, streamLeader } from '../../harness/nats.js'
import {
  listNetns,
  mountsUnder,
  namespaceProcesses,
  staleRuns,
  startHosts,
  sweepStaleRuns,
  type TestHost
} from '../../harness/netns.js'
import { waitFor } from '../../harness/ports.js'
import { isAlive, processesWithEnv } from '../../harness/procs.js'
import { podsNamed } from '../../harness/systemd.js'
import { writeTree } from '../../harness/tmp.js'

// The multi-host harness the fleet tests stand on (test/harness/netns.ts, fleet-host.ts,
// nats.ts): three hosts in network namespaces on a bridge of their own, each with its own user
// manager, Podman storage, Caddy (tls internal on its IP) and nats-server in one JetStream
// cluster; a host cut off and plugged back, a server killed, a host killed; and nothing left
// behind, neither after the teardown nor after a run killed before it.

const BUCKET = 'fleet-harness'
const STREAM = `KV_${BUCKET}`
const ms = (since: number): number => Date.now() - since
const value = async (kv: KV, key: string): Promise<string | undefined> =>
  (await kv.get(key).catch(() => null))?.string()
/**
 * A read polled until it gives `want`, each try bounded to 1 s. A KV read is a direct get, which
 * any replica's queue subscription may answer: right after a host is cut off or killed, its server
 * still counts as routed (until its route times out), so a read sent its way waits out the whole
 * request timeout (5 s) unanswered. A bounded try lets the next one reach a live replica.
 */
const readsWithin = async (what: string, kv: KV, key: string, want: string, timeoutMs: number): Promise<void> => {
  const once = async (): Promise<string | undefined> =>
    await Promise.race([
      value(kv, key),
      new Promise<undefined>(resolve => setTimeout(() => resolve(undefined), 1000).unref())
    ])
  await waitFor(what, async () => (await once()) === want, timeoutMs, 20)
}
/** Cgroup directories whose name starts with PREFIX, in every hierarchy. */
const cgroupsNamed = (prefix: string): string[] =>
  spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '12', '-type', 'd', '-name', `${prefix}*`, '-prune'], {
    encoding: 'utf8'
  })
    .stdout.split('\n')
    .filter(l => l !== '')
/** The machine's own interfaces (a veth whose peer is in a namespace names that namespace). */
const rootLinks = (): string => spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout
/** What a server on the ROOT namespace's 127.0.0.1:PORT says first; null: nothing listens. */
const rootLoopback = async (port: number): Promise<string | null> =>
  await new Promise(resolve => {
    const s = net.connect(port, '127.0.0.1')
    let data = ''
    const done = (v: string | null): void => {
      clearTimeout(timer)
      s.destroy()
      resolve(v)
    }
    const timer = setTimeout(() => done(data), 1000)
    s.on('data', d => {
      data += d.toString()
      done(data)
    })
    s.on('error', () => done(null))
  })
const leftOf = (id: string): string[] => [
  ...listNetns().filter(n => n.startsWith(`${id}-`)),
  ...(existsSync(`/tmp/${id}`) ? [`/tmp/${id}`] : [])
]

// Runs in child processes that die without their teardown, for the last test.
interface OrphanRun {
  id: string
  dir: string
  sleeper: number
  leftAtEnd: string[]
  cleanedAfter?: number
}
type Mode = 'sigkill' | 'sigkill-no-reaper' | 'exit'
interface Orphan {
  mode: Mode
  run: { id: string; dir: string; sleeper: number }
  child: ChildProcess
  exit: Promise<void>
}

async function spawnOrphan(mode: Mode): Promise<Orphan> {
  const harness = path.join(repoRoot, 'test/harness/netns.ts')
  const code = `
    import { startHosts } from ${JSON.stringify(harness)}
    const fleet = await startHosts({ teardown () {} }, { count: 2, reaper: ${String(mode === 'sigkill')} })
    const sleeper = fleet.hosts[1].spawn('sleep', ['600'], { stdio: 'ignore' })
    console.log(JSON.stringify({ id: fleet.id, dir: fleet.dir, sleeper: sleeper.pid }))
    ${mode === 'exit' ? 'process.exit(3)' : ''}
    // Dies (without teardown) with the test process at the latest.
    process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL')).resume()
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const exit = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolve(out.split('\n')[0]!)
    })
    child.once('exit', c => {
      if (!out.includes('\n')) reject(new Error(`child exited ${c} before its hosts: ${out}`))
    })
  })
  return { mode, run: JSON.parse(line) as Orphan['run'], child, exit }
}

async function endOrphan(o: Orphan): Promise<OrphanRun> {
  if (o.mode !== 'exit') o.child.kill('SIGKILL')
  await o.exit
  const ended = Date.now()
  // Looked at once: the exit hook must have run before the process ended.
  const leftAtEnd = leftOf(o.run.id)
  let cleanedAfter: number | undefined
  if (o.mode === 'sigkill') {
    await waitFor(`the reaper cleans ${o.run.id}`, () => leftOf(o.run.id).length === 0, 20_000, 20).catch(() => {})
    if (leftOf(o.run.id).length === 0) cleanedAfter = ms(ended)
  }
  return { ...o.run, leftAtEnd, cleanedAfter }
}

let orphans: Promise<OrphanRun[]> | undefined
async function startOrphanRuns(): Promise<OrphanRun[]> {
  // All started before any ends: a run starting later would sweep an ended one itself.
  const started = await Promise.allSettled((['sigkill', 'exit', 'sigkill-no-reaper'] as const).map(spawnOrphan))
  const ok = started.flatMap(r => (r.status === 'fulfilled' ? [r.value] : []))
  if (ok.length < started.length) {
    for (const o of ok) o.child.kill('SIGKILL')
    throw (started.find(r => r.status === 'rejected') as PromiseRejectedResult).reason
  }
  return await Promise.all(ok.map(endOrphan))
}

t.test('three hosts: network, user managers, Podman, Caddy, a JetStream cluster, a clean teardown', async t => {
  const timings: Record<string, number> = {}
  let t0 = Date.now()
  const fleet = await startHosts(t, { count: 3 })
  timings.hosts = ms(t0)
  const [h1, h2, h3] = fleet.hosts as [TestHost, TestHost, TestHost]
  const names = listNetns().filter(n => n.startsWith(`${fleet.id}-`))

  await t.test('each host reaches the others by its 192.0.2.x address, and nothing else', async t => {
    const expected = ['h1', 'h2', 'h3', 'sw'].map(n => `${fleet.id}-${n}`)
    t.same(names.sort(), expected, 'a namespace per host, one for the bridge')
    t.same(
      fleet.hosts.map(h => h.ip),
      ['192.0.2.1', '192.0.2.2', '192.0.2.3']
    )
    for (const [from, to] of [
      [h2, h1],
      [h3, h2],
      [h1, h3]
    ] as const) {
      const r = await from.exec('busybox', ['ping', '-c', '1', '-W', '2', to.ip])
      t.equal(r.code, 0, `${from.name} pings ${to.name} at ${to.ip}: ${r.stdout.split('\n')[1] ?? r.stderr}`)
    }
    for (const h of fleet.hosts) {
      const links = (await h.exec('ip', ['-o', 'link', 'show'])).stdout.trim().split('\n')
      t.same(
        links.map(l => l.split(': ')[1]!.split('@')[0]),
        ['lo', 'eth0'],
        `${h.name} has lo and eth0 only`
      )
      t.notMatch((await h.exec('ip', ['route'])).stdout, /default/, `${h.name} has no default route`)
    }
    const out = await h1.probe('198.51.100.1', 80)
    t.equal(out.code, 'ENETUNREACH', 'a host sends nothing off its bridge (another documentation address)')
    t.notMatch(rootLinks(), fleet.id, "no interface of the run in the machine's own namespace")
    t.notOk(staleRuns().includes(fleet.id), 'a live run never counts as stale')
  })

  // Independent of each other: started at once (most of their start is waiting).
  t0 = Date.now()
  const [managers, caddies, servers] = await Promise.all([
    Promise.all(fleet.hosts.map(async h => await startHostUserManager(t, h))),
    Promise.all(fleet.hosts.map(async h => await startHostCaddy(t, h))),
    startNatsCluster(t, fleet.hosts),
    importBusybox(h2)
  ])
  timings.servicesStart = ms(t0)
  const [s1, s2, s3] = servers as [(typeof servers)[0], (typeof servers)[0], (typeof servers)[0]]

  await t.test("a user manager per host: its units run in the host's namespace, see only its interfaces", async t => {
    for (const [i, sd] of managers.entries()) {
      const h = fleet.hosts[i]!
      const exec = 'ip -o addr show > %t/ifaces; cat /proc/self/cgroup > %t/cgroup; env > %t/env'
      writeTree(sd.unitsDir, { 'ifaces.service': `[Service]\nType=oneshot\nExecStart=/bin/sh -c '${exec}'\n` })
      const r = sd.systemctl('start', 'ifaces.service')
      t.equal(r.code, 0, `${h.name}: unit ran ${r.stderr}`)
      const lines = readFileSync(path.join(h.env.XDG_RUNTIME_DIR!, 'ifaces'), 'utf8').trim().split('\n')
      t.same([...new Set(lines.map(l => l.split(/\s+/)[1]))], ['lo', 'eth0'], `${h.name}'s unit sees lo and eth0 only`)
      const v4 = lines.filter(l => l.includes(' inet ')).map(l => l.split(/\s+/)[3])
      t.same(v4, ['127.0.0.1/8', `${h.ip}/24`], `${h.name}'s unit sees its own address only`)
      const cgroup = readFileSync(path.join(h.env.XDG_RUNTIME_DIR!, 'cgroup'), 'utf8')
      t.match(cgroup, `/${h.netns}/`, "in the manager's own cgroup, named after the host")
      const env = readFileSync(path.join(h.env.XDG_RUNTIME_DIR!, 'env'), 'utf8').split('\n')
      for (const name of ['CONDUCTOR_ROOT', 'CONTAINERS_STORAGE_CONF', 'XDG_DATA_HOME']) {
        t.ok(env.includes(`${name}=${h.env[name]!}`), `the unit inherits the host's ${name}`)
      }
    }
  })

  let containerPid = 0
  await t.test('Podman storage per host: a pod on h2 is listed by h2 only', async t => {
    t.equal((await podman(h2, 'pod', 'create', '--infra=false', '--name', 'fleet-proof')).code, 0)
    const image = 'localhost/busybox:latest'
    const run = await podman(h2, 'run', '-d', '--pod', 'fleet-proof', '--name', 'fleet-proof-c', image, 'sleep', '600')
    t.equal(run.code, 0, run.stderr)
    containerPid = Number((await podman(h2, 'inspect', '-f', '{{.State.Pid}}', 'fleet-proof-c')).stdout.trim())
    t.ok(isAlive(containerPid), `its container runs (pid ${containerPid})`)
    t.same(await hostPods(h2), ['fleet-proof'], 'h2 lists its pod')
    t.same(await hostPods(h1), [], 'h1 does not')
    t.same(podsNamed('fleet-proof'), [], "nor does the machine's own storage")
    t.equal((await podman(h1, 'image', 'exists', image)).code, 1, 'h1 has no busybox image: images are per host too')
  })

  await t.test('Caddy per host: https://IP (tls internal) verified with its own CA from the next host', async t => {
    for (const [i, c] of caddies.entries()) {
      const h = fleet.hosts[i]!
      const from = fleet.hosts[(i + 1) % 3]!
      const ownCa = path.join(h.env.XDG_DATA_HOME!, 'caddy/pki/authorities/local/root.crt')
      t.equal(c.caFile, ownCa, `${h.name}'s CA under its own XDG_DATA_HOME`)
      const r = await from.request(`${c.url}/`, { caFile: c.caFile })
      t.same([r.status, r.body], [200, `${h.name}\n`], `${from.name} -> ${c.url} verified with ${h.name}'s CA`)
      const otherCa = caddies[(i + 1) % 3]!.caFile
      const refused = from.request(`${c.url}/`, { caFile: otherCa })
      await t.rejects(refused, /certificate|self.signed|verify/i, "another host's CA does not verify it")
      const listen = (await (await fetch(`${c.adminUrl}/config/apps/http/servers/conductor/listen`)).json()) as string[]
      t.same(listen, [`${h.ip}:443`], 'its admin API is reachable from the test')
    }
  })

  await t.test("nats-server per host: client port on the host's own loopback, cluster port on its IP", async t => {
    for (const [i, s] of servers.entries()) {
      const h = fleet.hosts[i]!
      const other = fleet.hosts[(i + 1) % 3]!
      const local = await h.probe('127.0.0.1', 4222)
      t.match(local.data, `"server_name":"${h.name}"`, `${h.name}: 127.0.0.1:4222 inside is its server`)
      t.match(local.data, `"cluster":"${fleet.id}"`)
      const client = await other.probe(h.ip, 4222)
      t.equal(client.code, 'ECONNREFUSED', `${other.name} cannot reach ${h.ip}:4222 (loopback only)`)
      const route = await other.probe(h.ip, 6222, 1000)
      t.equal(route.connected, true, `${other.name} reaches the cluster port ${h.ip}:6222`)
      t.equal(s.running(), true)
    }
    const root = await rootLoopback(4222)
    const seen = root === null ? 'refused' : "someone else's server"
    const ours = root?.includes(`"cluster":"${fleet.id}"`) === true
    t.notOk(ours, `the machine's 127.0.0.1:4222 is none of them (${seen})`)
  })

  const [nc1, nc2, nc3] = await Promise.all(servers.map(async s => await connectNats(t, s)))
  let kv1: KV
  let kv3: KV
  await t.test('an R3 KV bucket created from h1: a put is visible from h3 within 5 s', async t => {
    t0 = Date.now()
    kv1 = await new Kvm(nc1!).create(BUCKET, { replicas: 3 })
    timings.kvCreate = ms(t0)
    kv3 = await new Kvm(nc3!).open(BUCKET)
    t0 = Date.now()
    await kv1.put('svc', 'v1')
    await readsWithin('v1 on h3', kv3, 'svc', 'v1', 5000)
    timings.putVisibleOnH3 = ms(t0)
    t.pass(`visible from h3 after ${timings.putVisibleOnH3} ms`)
    const leader = await streamLeader(nc1!, STREAM)
    t.ok(leader !== undefined && ['h1', 'h2', 'h3'].includes(leader), `stream led by ${leader}`)
  })

  await t.test('h3 cut off the bridge during two writes, then plugged back: it catches up', async t => {
    // A stream whose leader is cut off stalls writes for an election; the point here is catch-up.
    await moveStreamLeader(nc1!, STREAM, l => l !== 'h3')
    const before = await replicaLastSeq(s3, STREAM)
    // Kept short: after a few seconds cut off, TCP's retransmission backoff (and past ~4 s, h3's
    // own election campaign) delay the catch-up by seconds.
    await h3.link('down')
    t0 = Date.now()
    try {
      const eth0 = (await h3.exec('ip', ['-o', 'link', 'show', 'eth0'])).stdout
      t.match(eth0, 'NO-CARRIER', "h3's eth0 has lost its carrier")
      await kv1.put('svc', 'v2')
      await kv1.put('svc', 'v3')
      timings.twoPutsWithoutH3 = ms(t0)
      // A read is answered by the nearest replica, which applies a commit a moment after the ack.
      await readsWithin('v3 on h1', kv1, 'svc', 'v3', 10_000)
      t.pass('h1 and h2 go on with a quorum of two')
      t.equal(await replicaLastSeq(s3, STREAM), before, "h3's replica missed both writes")
      timings.h3CutOff = ms(t0)
    } finally {
      // Plugged back whatever happened: a failure here must not leave h3 cut off for the next tests.
      await h3.link('up')
    }
    t0 = Date.now()
    const caughtUp = async (): Promise<boolean> => (await replicaLastSeq(s3, STREAM)) === before! + 2
    // Longer when the cut-off lasted longer (TCP's backoff, above): 20 s.
    await waitFor("h3's replica caught up", caughtUp, 20_000, 20)
    timings.h3CatchUp = ms(t0)
    t.equal(await value(kv3, 'svc'), 'v3', `h3 reads the latest value (caught up in ${timings.h3CatchUp} ms)`)
  })

  // The runs killed before their teardown (last test) start now: this subtest mostly waits.
  orphans = startOrphanRuns()
  orphans.catch(() => {})
  await t.test("h2's nats-server killed while leading the stream: h1 and h3 elect a leader, go on", async t => {
    await moveStreamLeader(nc1!, STREAM, l => l === 'h2')
    await s2.kill()
    t0 = Date.now()
    await waitFor(
      'a write accepted without h2',
      async () => {
        await kv1.put('svc', 'v4')
        return true
      },
      20_000,
      100
    )
    timings.writeAfterLeaderKilled = ms(t0)
    t.pass(`h1's write accepted ${timings.writeAfterLeaderKilled} ms after the kill`)
    await readsWithin('v4 on h3', kv3, 'svc', 'v4', 10_000)
    let leader: string | undefined
    await waitFor("the stream's new leader", async () => (leader = await streamLeader(nc1!, STREAM)) !== undefined)
    t.ok(leader === 'h1' || leader === 'h3', `a new stream leader among h1 and h3 (${leader})`)
    t.equal(nc2!.isClosed(), false, "the test's client of h2 waits to reconnect")
    t0 = Date.now()
    await s2.restart()
    const last = await replicaLastSeq(s1, STREAM)
    const caughtUp = async (): Promise<boolean> => (await replicaLastSeq(s2, STREAM)) === last
    await waitFor("h2's replica caught up after its restart", caughtUp, 10_000, 20)
    timings.h2RestartCaughtUp = ms(t0)
    const kv2 = await new Kvm(nc2!).open(BUCKET)
    t.equal(await value(kv2, 'svc'), 'v4', `h2 restarted caught up in ${timings.h2RestartCaughtUp} ms`)
    t.equal(nc2!.info?.server_name, 'h2', "the test's client of h2 reconnected through the same relay")
  })

  await t.test('h2 killed whole (a power cut): every process of it ends, the others keep serving', async t => {
    const before = h2.processes()
    t.ok(before.includes(managers[1]!.process.pid!), "h2's user manager counts as one of its processes")
    t.ok(before.includes(containerPid), "and so does its pod's container (a descendant of conmon)")
    t0 = Date.now()
    const killed = await h2.kill()
    timings.hostKill = ms(t0)
    t.same(h2.processes(), [], `none left (${killed.length} killed)`)
    t.notOk(isAlive(containerPid), 'the container is gone')
    const r = await h3.request(`${caddies[0]!.url}/`, { caFile: caddies[0]!.caFile })
    t.equal(r.status, 200, 'h1 still serves h3')
    await kv1.put('svc', 'v5')
    await readsWithin('v5 on h3', kv3, 'svc', 'v5', 10_000)
  })

  await t.test('teardown: no namespace, process, cgroup, mount or directory left', async t => {
    const inodes = new Set(names.map(n => statSync(`/run/netns/${n}`).ino))
    const pids = namespaceProcesses(inodes)
    t.ok(pids.length >= 8, `processes in the run's namespaces before (${pids.length})`)
    t.ok(cgroupsNamed(fleet.id).length >= 3, "the user managers' cgroups exist before")
    // As the teardown would, all at once, then the fleet.
    t0 = Date.now()
    await Promise.all([...caddies, ...managers, ...servers].map(async s => await s.stop()))
    timings.servicesStop = ms(t0)
    await fleet.stop()
    timings.teardown = ms(t0)
    t.same(
      listNetns().filter(n => n.startsWith(fleet.id)),
      [],
      'no namespace'
    )
    // By pid and by environment (a namespace's inode number is reused by the next namespace).
    t.same(pids.filter(isAlive), [], 'none of the processes seen in its namespaces is alive')
    const withEnv = fleet.hosts.flatMap(h => processesWithEnv('CONDUCTOR_ROOT', h.env.CONDUCTOR_ROOT!))
    t.same(withEnv, [], "no process with a host's environment")
    t.same(cgroupsNamed(fleet.id), [], 'no cgroup')
    t.same(mountsUnder(fleet.dir), [], 'no mount')
    t.notOk(existsSync(fleet.dir), 'no directory')
    t.notMatch(rootLinks(), fleet.id, 'no interface')
    t.same(podsNamed('fleet-proof'), [], "no pod in the machine's storage")
  })
  t.comment(`timings (ms): ${JSON.stringify(timings)}`)
})

t.test('a run that dies before its teardown leaves nothing for long', async t => {
  const [killed, exited, noReaper] = (await (orphans ?? startOrphanRuns())) as [OrphanRun, OrphanRun, OrphanRun]

  t.same(exited.leftAtEnd, [], 'process.exit: the exit hook removed everything before the process ended')
  t.notOk(isAlive(exited.sleeper), "and killed its host's process")

  t.equal(killed.leftAtEnd.length, 4, 'SIGKILL: its namespaces and directory were there when it died')
  const after = `${killed.cleanedAfter} ms later (node + tsx start included)`
  t.ok(killed.cleanedAfter !== undefined, `the reaper removed them ${after}`)
  t.notOk(isAlive(killed.sleeper), "and killed its host's process")

  // Another run's sweep (another test file's startHosts) may have removed it already: only a
  // sweep of stale runs removes a run whose owner died without a reaper.
  const stale = staleRuns()
  const counted = stale.includes(noReaper.id) || leftOf(noReaper.id).length === 0
  t.ok(counted, `SIGKILL without reaper: its run counts as stale (${stale.join(' ')})`)
  sweepStaleRuns()
  t.same(leftOf(noReaper.id), [], 'the sweep at the next startHosts removes it')
  t.notOk(isAlive(noReaper.sleeper), "and its host's process")
})
