import t from 'tap'
import { placeOnLoads, type Demand, type MachineLoad, type Units } from '../../../../conductor/placement/index.js'
import {
  auditLedger,
  decideHosts,
  leaseStep,
  ledgerLoad,
  Liveness,
  needsReplacing,
  newLease,
  overCommitted,
  parseLock,
  withService,
  type LedgerEntry,
  type PlacementValue
} from '../../../../conductor/scheduler/index.js'

// The scheduler's pure decisions (issue 19 items 2 and 4): leases, ledger arithmetic, where a
// service's copies go after a change or a loss, liveness. No NATS, no clock but the one given.

const svc = (name: string, best: Units, min: Units = best, extra: Partial<Demand> = {}): Demand => ({
  name,
  best,
  min,
  instances: 1,
  ...extra
})
const ledger = (host: string, capacity: Units, services: Record<string, Units> = {}, extra = {}): LedgerEntry => ({
  host,
  capacity,
  services: Object.fromEntries(Object.entries(services).map(([n, u]) => [n, { best: u, min: u }])),
  updated_at: 0,
  by: 'test',
  ...extra
})

t.test('lease: absent -> create; live -> wait until its end plus the skew; ended -> take over', async t => {
  t.same(leaseStep(undefined, 1000, 1000), { do: 'create' })
  const held = newLease('b', 1000, 5000)
  t.same(held, { holder: 'b', acquired_at: 1000, expires_at: 6000 })
  t.same(leaseStep(held, 2000, 1000), { do: 'wait', holder: 'b', untilMs: 5000 })
  t.same(leaseStep(held, 7000, 1000), { do: 'wait', holder: 'b', untilMs: 0 }, 'within the skew: still held')
  t.same(leaseStep(held, 7001, 1000), { do: 'take-over', from: 'b', expiredMs: 1001 }, 'a dead holder: taken over')
  t.same(
    leaseStep(held, 2000, 1000),
    { do: 'wait', holder: 'b', untilMs: 5000 },
    'its own name from a process that may still live: waited for too'
  )
  t.equal(parseLock({ holder: 'x' }), undefined, 'a record without expiry is not a lock (taken over at once)')
  t.equal(parseLock('junk'), undefined)
})

t.test('ledger: sums exact in millionths, set/remove a service, over-commit, audit', async t => {
  const e = ledger('a', { vcpu: 0.3 }, { x: { vcpu: 0.1 }, y: { vcpu: 0.1 } })
  t.same(ledgerLoad(e, 'y'), {
    id: 'a',
    capacity: { vcpu: 0.3 },
    best: { vcpu: 0.1 },
    min: { vcpu: 0.1 },
    holds: false
  })
  const z = withService(e, 'z', { best: { vcpu: 0.1 }, min: { vcpu: 0.1 } }, 'b', 5)!
  t.same(overCommitted(z), [], '3 x 0.1 in 0.3 is not over-committed')
  t.equal(withService(z, 'z', { best: { vcpu: 0.1 }, min: { vcpu: 0.1 } }, 'b', 6), null, 'the same demand: no write')
  const more = withService(z, 'w', { best: { vcpu: 0.2, gpu: 1 }, min: { vcpu: 0.1 } }, 'b', 7)!
  t.same(overCommitted(more), ['vcpu', 'gpu'], 'best over capacity, a unit not declared')
  t.same(overCommitted(more, 'min'), ['vcpu'])
  t.same(Object.keys(withService(more, 'x', undefined, 'b', 8)!.services).sort(), ['w', 'y', 'z'], 'removed')
  const placements = new Map<string, { hosts: string[]; demand: { best: Units; min: Units } }>([
    ['x', { hosts: ['a'], demand: { best: { vcpu: 0.1 }, min: { vcpu: 0.1 } } }],
    ['y', { hosts: ['b'], demand: { best: { vcpu: 0.1 }, min: { vcpu: 0.1 } } }],
    ['v', { hosts: ['a', 'c'], demand: { best: { vcpu: 1 }, min: {} } }],
    ['z', { hosts: ['a'], demand: { best: { vcpu: 0.2 }, min: { vcpu: 0.1 } } }]
  ])
  t.same(auditLedger(z, placements), { add: ['v', 'z'], remove: ['y'] }, 'missing, other demand, placed elsewhere')
})

t.test(
  'decideHosts: keep eligible copies, replace lost ones by the rule, manual, disabled, fewer instances',
  async t => {
    const ledgers = [
      ledger('a', { vcpu: 4 }, { web: { vcpu: 1 }, other: { vcpu: 2 } }),
      ledger('b', { vcpu: 4 }, { big: { vcpu: 3 } }),
      ledger('c', { vcpu: 8 }),
      ledger('d', { vcpu: 8 })
    ]
    const web = svc('web', { vcpu: 1 }, { vcpu: 1 }, { instances: 2 })
    const all = new Set(['a', 'b', 'c', 'd'])
    const same = decideHosts({ demand: web, current: ['a', 'c'], eligible: all, ledgers })
    t.same(same, { hosts: ['a', 'c'], source: 'scheduler', kept: ['a', 'c'], added: [], dropped: [] }, 'nothing moves')
    const lost = decideHosts({ demand: web, current: ['a', 'c'], eligible: new Set(['a', 'b', 'd']), ledgers })
    t.same(lost.hosts, ['a', 'd'], 'c lost: its copy goes to the least loaded eligible machine without a copy')
    t.same([lost.kept, lost.added, lost.dropped], [['a'], ['d'], ['c']])
    const fresh = decideHosts({ demand: web, current: [], eligible: all, ledgers })
    t.same(fresh.hosts, ['c', 'd'], 'new: two copies, least loaded first, ties by peer id')
    const fewer = decideHosts({ demand: { ...web, instances: 1 }, current: ['a', 'c'], eligible: all, ledgers })
    t.same([fewer.hosts, fewer.dropped], [['a'], ['c']], 'instances lowered: the last copies go')
    const manual = decideHosts({ demand: { ...web, hosts: ['b', 'x'] }, current: ['a'], eligible: all, ledgers })
    t.same(manual, { hosts: ['b', 'x'], source: 'file', kept: [], added: ['b', 'x'], dropped: ['a'] }, 'manual')
    const off = decideHosts({ demand: { ...web, disabled: true }, current: ['a'], eligible: all, ledgers })
    t.same([off.hosts, off.dropped], [[], ['a']], 'disabled: runs nowhere')
    const huge = decideHosts({ demand: svc('huge', { vcpu: 16 }, { vcpu: 9 }), current: [], eligible: all, ledgers })
    t.same(huge.hosts, [])
    t.match(huge.unplaced, {
      copies: 1,
      reason:
        /^no machine can hold its minimum: a: vcpu min 12 \(9 \+ 3 of the services there\) > capacity 4; .*d: vcpu min 9 > capacity 8$/
    })
    const gpu = decideHosts({ demand: svc('ml', { gpu: 1 }), current: [], eligible: all, ledgers })
    t.equal(
      gpu.unplaced?.reason,
      'no machine can hold its minimum: a: gpu min 1 > capacity 0 (not declared); b: gpu min 1 > capacity 0 ' +
        '(not declared); c: gpu min 1 > capacity 0 (not declared); d: gpu min 1 > capacity 0 (not declared)',
      'a unit in min no machine declares: every machine named as excluded by it'
    )
    const none = decideHosts({ demand: web, current: ['a'], eligible: new Set(), ledgers })
    t.match(none, { hosts: [], dropped: ['a'], unplaced: { copies: 2, reason: /no eligible machine/ } })
  }
)

t.test('needsReplacing: a copy on a machine not eligible; copies unplaced; manual and disabled never', async t => {
  const p = (hosts: string[], extra: Partial<PlacementValue> = {}): PlacementValue => ({
    service: 's',
    hosts,
    source: 'scheduler',
    demand: { best: {}, min: {}, instances: 2 },
    record_revision: 1,
    by: 'a',
    at: 0,
    reason: 'test',
    ...extra
  })
  const eligible = new Set(['a', 'b'])
  t.equal(needsReplacing(p(['a', 'b']), eligible), undefined)
  t.equal(needsReplacing(p(['a', 'c']), eligible), 'lost')
  t.equal(needsReplacing(p(['a']), eligible), 'unplaced')
  t.equal(needsReplacing(p(['a', 'c'], { source: 'file' }), eligible), undefined)
  t.equal(
    needsReplacing(p(['c'], { demand: { best: {}, min: {}, instances: 1, disabled: true } }), eligible),
    undefined
  )
})

t.test('placeOnLoads agrees with the rule: best fit first, then the least over-commit, copies distinct', async t => {
  const loads: MachineLoad[] = [
    { id: 'b', capacity: { vcpu: 4 }, best: { vcpu: 3 }, min: { vcpu: 1 } },
    { id: 'a', capacity: { vcpu: 4 }, best: { vcpu: 2 }, min: { vcpu: 2 } },
    { id: 'c', capacity: { vcpu: 2 }, best: {}, min: {}, holds: true }
  ]
  const r = placeOnLoads(svc('x', { vcpu: 2 }, { vcpu: 1 }, { instances: 3 }), loads, 2)
  t.same(r.hosts, ['a', 'b'], 'a is a best fit (load 1); then b over-commits 5/4; c holds a copy')
  t.same(
    r.fits.map(f => f.fit),
    ['best-fit', 'over-commit']
  )
})

t.test('liveness: silent more than dead_after, on the reader clock; never heard counts from the start', async t => {
  const l = new Liveness('a', 1000, 5000)
  t.ok(l.alive('a', 1e9), 'itself always')
  t.ok(l.alive('b', 6000), 'never heard: alive until dead_after from the start')
  t.notOk(l.alive('b', 6001))
  l.beat('b', 6500)
  t.ok(l.alive('b', 11_500))
  t.notOk(l.alive('b', 11_501))
  t.equal(l.silentFor('b', 7000), 500)
})
