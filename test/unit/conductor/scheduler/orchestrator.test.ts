import t from 'tap'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import {
  Orchestrator,
  openSchedulerKv,
  overCommitted,
  readAllPlacements,
  readLedgers,
  type SchedulerKv
} from '../../../../conductor/scheduler/index.js'
import type { Demand } from '../../../../conductor/placement/index.js'
import { waitFor } from '../../../harness/ports.js'
import { connectWhenReady, natsLoopbackCluster, natsLoopbackServer } from '../../../harness/nats-loopback.js'
import type { tempDir } from '../../../harness/tmp.js'

// The orchestrator's KV steps on a real nats-server 2.9 (JetStream, loopback): the service
// lock (created, taken over from a dead holder only after its lease), the capacity ledger
// written by compare-and-set with the placement, and two orchestrators racing on 100 services
// that must never over-commit a machine. Each orchestrator has its own connection, as two hosts.

t.setTimeout(180_000)

async function client(
  t: Parameters<typeof tempDir>[0],
  port: number
): Promise<{ nc: NatsConnection; kv: SchedulerKv }> {
  const nc = await connect({ servers: `127.0.0.1:${port}` })
  t.teardown(async () => {
    await nc.close()
  })
  return { nc, kv: await openSchedulerKv(nc, 1) }
}

const demand = (name: string, vcpu: number, extra: Partial<Demand> = {}): Demand => ({
  name,
  best: { vcpu },
  min: { vcpu },
  instances: 1,
  ...extra
})

for (const where of ['one server', 'a cluster of three servers (R3 buckets, one orchestrator on each of two)']) {
  t.test(`two orchestrators racing on 100 services, ${where}: the ledger never over-commits a machine`, async t => {
    let x: { nc: NatsConnection; kv: SchedulerKv }
    let y: { nc: NatsConnection; kv: SchedulerKv }
    if (where === 'one server') {
      const port = await natsLoopbackServer(t)
      ;[x, y] = [await client(t, port), await client(t, port)]
    } else {
      const ports = await natsLoopbackCluster(t)
      const [ncx, ncy] = [await connectWhenReady(t, ports[0]!), await connectWhenReady(t, ports[1]!)]
      // R3 buckets need the three servers in the meta group: created once they all answer.
      let kvx: SchedulerKv | undefined
      await waitFor(
        'R3 buckets created',
        async () => {
          kvx = await openSchedulerKv(ncx, 3).catch(() => undefined)
          return kvx !== undefined
        },
        30_000,
        200
      )
      x = { nc: ncx, kv: kvx! }
      y = { nc: ncy, kv: await openSchedulerKv(ncy, 3) }
    }
    const logs: string[] = []
    const mk = (self: string, kv: SchedulerKv): Orchestrator =>
      new Orchestrator({ kv, self, alive: () => true, log: m => logs.push(m) })
    const a = mk('a', x.kv)
    const b = mk('b', y.kv)
    // 100 vcpu in all for 100 services of 1 vcpu each (best = min): room for every one exactly,
    // so a machine counted twice by two orchestrators shows as over-committed.
    await a.writeMachine('a', { capacity: { vcpu: 30 } })
    await a.writeMachine('b', { capacity: { vcpu: 30 } })
    await b.writeMachine('c', { capacity: { vcpu: 40 } })
    const names = Array.from({ length: 100 }, (_, i) => `s${String(i).padStart(3, '0')}`)
    // Each walks the services in its own order, four at a time, so they meet on every machine.
    const drive = async (o: Orchestrator, list: string[]): Promise<string[]> => {
      const busy: string[] = []
      const queue = [...list]
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
            const r = await o.ensure(n, { demand: demand(n, 1), recordRevision: 1, reason: 'race' })
            if (r.outcome === 'busy') busy.push(n)
          }
        })
      )
      return busy
    }
    const [busyA, busyB] = await Promise.all([drive(a, names), drive(b, [...names].reverse())])
    // While they race, a service may find the fleet full for a moment (a copy counted on its
    // new machine before it leaves its old one) and be written unplaced: the daemons try
    // unplaced copies again every 10 s; here, once, as that tick does. Over-commit never.
    const unplaced = [...(await readAllPlacements(x.kv)).values()].filter(p => p.value.hosts.length === 0)
    for (const p of unplaced) await a.ensure(p.value.service, { reason: 'unplaced copies tried again' })
    t.comment(
      `unplaced after the race, placed by the retry: ${unplaced.map(p => p.value.service).join(', ') || 'none'}`
    )
    const ledgers = await readLedgers(x.kv)
    const placements = await readAllPlacements(x.kv)
    for (const [host, l] of ledgers) {
      t.same(
        overCommitted(l.value),
        [],
        `${host}: Σ best ${Object.keys(l.value.services).length} <= ${l.value.capacity.vcpu}`
      )
    }
    // What would run: the placements per machine, against its capacity (a lost ledger update shows here).
    for (const [host, l] of ledgers) {
      const running = [...placements.values()].filter(p => p.value.hosts.includes(host)).length
      t.ok(running <= l.value.capacity.vcpu!, `${host}: ${running} services placed for ${l.value.capacity.vcpu} vcpu`)
    }
    t.equal(placements.size, 100, 'every service placed')
    t.same(
      [...placements.values()].filter(p => p.value.hosts.length !== 1).map(p => p.value.service),
      [],
      'each exactly once'
    )
    const counted = [...ledgers.values()].reduce((n, l) => n + Object.keys(l.value.services).length, 0)
    t.equal(counted, 100, 'the ledgers count each service once')
    for (const [name, p] of placements) {
      if (!ledgers.get(p.value.hosts[0]!)?.value.services[name])
        t.fail(`${name}: placed on ${p.value.hosts[0]} but not in its ledger`)
    }
    t.ok(a.conflicts + b.conflicts > 0, `they did race: ${a.conflicts + b.conflicts} ledger conflicts, decided again`)
    t.comment(`locks found held by the other: ${busyA.length + busyB.length}`)
    // One more service than there is room for: unplaceable (min over every machine), nothing written to a ledger.
    const r = await a.ensure('extra', { demand: demand('extra', 1), recordRevision: 1, reason: 'full' })
    t.match(r, {
      outcome: 'written',
      placement: { value: { hosts: [], unplaced: { reason: /no machine can hold its minimum/ } } }
    })
    const after = await readLedgers(x.kv)
    t.notOk(
      [...after.values()].some(l => 'extra' in l.value.services),
      'an unplaceable service takes no room anywhere'
    )
  })
}

t.test('lock: held by a live holder -> busy; by a dead one -> taken over after its lease; release', async t => {
  const port = await natsLoopbackServer(t)
  const { kv } = await client(t, port)
  const logs: string[] = []
  let now = 1_000_000
  const o = new Orchestrator({ kv, self: 'a', alive: () => true, log: m => logs.push(m), now: () => now })
  await o.writeMachine('a', { capacity: { vcpu: 4 } })
  // A host that died mid-placement left its lock, with 5 s of lease from its clock.
  await kv.locks.put('web', JSON.stringify({ holder: 'dead', acquired_at: now, expires_at: now + 5000 }))
  t.same(await o.ensure('web', { demand: demand('web', 1), recordRevision: 1, reason: 'new' }), {
    outcome: 'busy',
    holder: 'dead'
  })
  t.same([...(await readAllPlacements(kv)).keys()], [], 'nothing placed while the lease runs')
  now += 6001 // past the lease and the allowed clock skew
  const r = await o.ensure('web', { demand: demand('web', 1), recordRevision: 1, reason: 'new' })
  t.match(r, { outcome: 'written', placement: { value: { hosts: ['a'], source: 'scheduler' } } })
  t.match(logs.join('\n'), /lock of web taken over from dead \(its lease ended 1001 ms ago\)/)
  const lock = await kv.locks.get('web')
  t.not(lock?.operation, 'PUT', 'released after placing')
  const again = await o.ensure('web', { demand: demand('web', 1), recordRevision: 1, reason: 'same' })
  t.equal(again.outcome, 'unchanged', 'the same version again: nothing written')
  const old = await o.ensure('web', { demand: demand('web', 3), recordRevision: 0, reason: 'older record' })
  t.equal(old.outcome, 'unchanged', 'an older record revision never replaces a newer demand')
})

t.test('a machine lost or drained: its copies placed again, its ledger cleaned; audit and release', async t => {
  const port = await natsLoopbackServer(t)
  const { kv } = await client(t, port)
  const logs: string[] = []
  const dead = new Set<string>()
  const o = new Orchestrator({ kv, self: 'a', alive: p => !dead.has(p), log: m => logs.push(m) })
  for (const h of ['a', 'b', 'c']) await o.writeMachine(h, { capacity: { vcpu: 4 } })
  const web = demand('web', 1, { instances: 2 })
  const first = await o.ensure('web', { demand: web, recordRevision: 1, reason: 'new' })
  t.match(first, { placement: { value: { hosts: ['a', 'b'] } } })
  dead.add('b')
  const moved = await o.ensure('web', { reason: 'b silent for 5.1 s' })
  t.match(moved, { outcome: 'written', placement: { value: { hosts: ['a', 'c'], reason: 'b silent for 5.1 s' } } })
  const ledgers = await readLedgers(kv)
  t.same(Object.keys(ledgers.get('b')!.value.services), [], "the lost machine's ledger no longer counts it")
  t.same(Object.keys(ledgers.get('c')!.value.services), ['web'])
  t.match(logs.join('\n'), /web placed on a, c \(b silent for 5\.1 s; \+c -b\)/)
  dead.clear()
  await o.writeMachine('c', { drained: true })
  const drained = await o.ensure('web', { reason: 'c drained' })
  t.match(drained, { placement: { value: { hosts: ['a', 'b'] } } }, 'drained: moved, and b is back')

  // A ledger that disagrees with the placements (an orchestrator died between its two writes).
  const b = (await readLedgers(kv)).get('b')!
  await kv.ledger.update(
    'b',
    JSON.stringify({ ...b.value, services: { ghost: { best: { vcpu: 3 }, min: {} } } }),
    b.revision
  )
  const fixed = await o.audit('b')
  t.same(fixed, { added: ['web'], removed: ['ghost'] })
  t.match(
    logs.join('\n'),
    /the ledger of b disagreed with the placements: reconciled from them, added web, removed ghost/
  )
  t.same(await o.audit('b'), { added: [], removed: [] }, 'agrees now')

  // A daemon audits from its watched placements, which lag behind a placement just written:
  // what disagrees is read again from the bucket, so a fresh copy is never removed.
  const lagging = new Orchestrator({
    kv,
    self: 'b',
    alive: () => true,
    log: m => logs.push(m),
    placements: () => new Map()
  })
  t.same(await lagging.audit('b'), { added: [], removed: [] }, 'a stale watched copy changes nothing')
  t.same(Object.keys((await readLedgers(kv)).get('b')!.value.services), ['web'])

  t.ok(await o.release('web'))
  t.same([...(await readAllPlacements(kv)).keys()], [], 'placement deleted')
  t.same(
    [...(await readLedgers(kv)).values()].flatMap(l => Object.keys(l.value.services)),
    [],
    'no ledger counts it'
  )
})
