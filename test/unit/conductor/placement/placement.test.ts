import t from 'tap'
import {
  explain,
  machineLoads,
  planPlacements,
  serviceDemand,
  type Demand,
  type MachineSpec,
  type Plan,
  type PlanInput,
  type Units
} from '../../../../conductor/placement/index.js'

// The placement rule of issue 19 (README "Fleet placement") with plain objects: a table of its
// edge cases, then properties over seeded random fleets checked against a reference written
// plainly from the rule's text (sums over S recomputed from scratch at every step).

const svc = (name: string, best: Units, min: Units = best, extra: Partial<Demand> = {}): Demand => ({
  name,
  best,
  min,
  instances: 1,
  ...extra
})
const machine = (id: string, capacity: Units, services: string[] = []): MachineSpec => ({ id, capacity, services })
const plan = (machines: MachineSpec[], services: Demand[]): Plan => planPlacements({ machines, services })

t.test('B = 0 counts as ratio 0 whatever C, even C = 0 (a unit nobody declares)', async t => {
  const p = plan([machine('a', { vcpu: 4 })], [svc('x', { vcpu: 1, gpu: 0 })])
  t.same(p.placements, { x: ['a'] })
  t.same(p.decisions, [{ service: 'x', copy: 1, host: 'a', fit: 'best-fit', load: 0.25 }])
  const e = explain(svc('x', { vcpu: 1, gpu: 0 }), [{ id: 'a', capacity: { vcpu: 4 }, best: {}, min: {} }])
  t.same(e.machines[0]!.units.gpu, { best: 0, min: 0, capacity: 0, ratio: 0 })
  const none = plan([machine('a', {})], [svc('empty', {})])
  t.same(
    none.decisions,
    [{ service: 'empty', copy: 1, host: 'a', fit: 'best-fit', load: 0 }],
    'a service needing nothing fits a machine declaring nothing'
  )
})

t.test('B > 0 = C is an infinite ratio: no best fit there, and a finite over-commit wins over it', async t => {
  const wantsGpu = svc('x', { vcpu: 1, gpu: 1 }, { vcpu: 1 })
  const inf = plan([machine('b', { vcpu: 8 }), machine('a', { vcpu: 4 })], [wantsGpu])
  t.same(
    inf.decisions,
    [{ service: 'x', copy: 1, host: 'a', fit: 'over-commit', load: Infinity }],
    'both infinite: a tie, broken by peer id'
  )
  const finite = plan([machine('a', { vcpu: 4 }), machine('b', { vcpu: 1, gpu: 0.5 })], [wantsGpu])
  t.same(finite.decisions, [{ service: 'x', copy: 1, host: 'b', fit: 'over-commit', load: 2 }])
  const e = explain(wantsGpu, [{ id: 'a', capacity: { vcpu: 4 }, best: {}, min: {} }])
  t.equal(e.machines[0]!.units.gpu!.ratio, Infinity)
  t.equal(e.fit, 'over-commit')
})

t.test('exact fit B = C is a best fit (load 1), and among best fits the least loaded wins', async t => {
  const exact = plan([machine('a', { vcpu: 2 }), machine('b', { vcpu: 1 })], [svc('x', { vcpu: 2 }, { vcpu: 1 })])
  t.same(exact.decisions, [{ service: 'x', copy: 1, host: 'a', fit: 'best-fit', load: 1 }])
  const roomier = plan([machine('a', { vcpu: 2 }), machine('z', { vcpu: 100 })], [svc('x', { vcpu: 2 })])
  t.same(roomier.placements, { x: ['z'] })
  t.equal(roomier.decisions[0]!.load, 0.02)
})

t.test('ties go to the lowest peer id in byte order, whatever the input order', async t => {
  const ids = ['b', 'a10', 'a9', 'B']
  const p = plan(
    ids.map(id => machine(id, { vcpu: 4 })),
    [svc('x', { vcpu: 1 })]
  )
  t.same(p.placements, { x: ['B'] }, '"B" < "a10" < "a9" < "b"')
  const q = plan(
    ids.slice(0, 3).map(id => machine(id, { vcpu: 4 })),
    [svc('x', { vcpu: 1 })]
  )
  t.same(q.placements, { x: ['a10'] })
})

t.test('over-commit: the lowest maximum ratio wins (not the lowest sum)', async t => {
  // a: vcpu 4/2 = 2, ram 8/100 = 0.08 -> max 2 (sum 2.08). b: vcpu 4/2.5 = 1.6, ram 8/5 = 1.6 -> max 1.6 (sum 3.2).
  const p = plan(
    [machine('a', { vcpu: 2, ram: 100 }), machine('b', { vcpu: 2.5, ram: 5 })],
    [svc('x', { vcpu: 4, ram: 8 }, { vcpu: 1, ram: 1 })]
  )
  t.same(p.decisions, [{ service: 'x', copy: 1, host: 'b', fit: 'over-commit', load: 1.6 }])
})

t.test('a machine where N > C is excluded even when its over-commit would be the lowest', async t => {
  const x = svc('x', { vcpu: 4, ram: 4 }, { vcpu: 1, ram: 2 })
  // a: over-commit 4/1.5 = 2.67 but ram N 2 > 1.5; b: over-commit 4, nothing under min.
  const p = plan([machine('a', { vcpu: 8, ram: 1.5 }), machine('b', { vcpu: 1, ram: 4 })], [x])
  t.same(p.decisions, [{ service: 'x', copy: 1, host: 'b', fit: 'over-commit', load: 4 }])
  // The mins of the services already there count: b's 3 of ram min leave 1 < 2.
  const full = plan(
    [machine('a', { vcpu: 8, ram: 1.5 }), machine('b', { vcpu: 1, ram: 4 }, ['old'])],
    [x, svc('old', { ram: 3 })]
  )
  t.same(full.placements, {})
  t.same(full.unplaceable.x, {
    copies: 1,
    reason:
      'no machine can hold its minimum: a: ram min 2 > capacity 1.5; ' +
      'b: ram min 5 (2 + 3 of the services there) > capacity 4',
    machines: { a: 'ram min 2 > capacity 1.5', b: 'ram min 5 (2 + 3 of the services there) > capacity 4' }
  })
})

t.test('a unit in min that machines lack excludes them, and the reason names each of them', async t => {
  const x = svc('x', { vcpu: 1, gpu: 1 })
  const fleet = [machine('a', { vcpu: 4 }), machine('b', { vcpu: 4, gpu: 0 })]
  const p = plan([...fleet, machine('c', { vcpu: 1, gpu: 1 })], [x])
  t.same(p.placements, { x: ['c'] })
  const none = plan(fleet, [x])
  t.same(none.placements, {})
  t.equal(
    none.unplaceable.x!.reason,
    'no machine can hold its minimum: a: gpu min 1 > capacity 0 (not declared); b: gpu min 1 > capacity 0'
  )
  const e = explain(x, machineLoads('x', fleet, [x]))
  t.same(
    e.machines.map(m => [m.id, m.verdict, m.excludedBy]),
    [
      ['a', 'excluded', ['gpu']],
      ['b', 'excluded', ['gpu']]
    ]
  )
  t.equal(e.fit, 'unplaceable')
  t.equal(e.chosen, null)
})

t.test('amounts are exact to a millionth: three services of 0.1 fit a capacity of 0.3', async t => {
  // With float sums the third would be over-commit (0.30000000000000004 > 0.3), on a still (b: 2).
  const three = plan(
    [machine('a', { vcpu: 0.3 }), machine('b', { vcpu: 0.05 })],
    [svc('x1', { vcpu: 0.1 }), svc('x2', { vcpu: 0.1 }), svc('x3', { vcpu: 0.1 })]
  )
  t.same(
    three.decisions.map(d => [d.host, d.fit]),
    [
      ['a', 'best-fit'],
      ['a', 'best-fit'],
      ['a', 'best-fit']
    ]
  )
  t.equal(three.decisions[2]!.load, 1, 'exactly full, not 1.0000000000000002')
})

t.test('instances: N copies on N distinct machines; fewer machines: the rest unplaceable with the reason', async t => {
  const web = svc('web', { vcpu: 1 }, { vcpu: 1 }, { instances: 3 })
  const three = plan(
    ['a', 'b', 'c'].map(id => machine(id, { vcpu: 1 })),
    [web]
  )
  t.same(three.placements, { web: ['a', 'b', 'c'] })
  t.same(three.unplaceable, {})
  const two = plan(
    ['a', 'b'].map(id => machine(id, { vcpu: 8 })),
    [web]
  )
  t.same(two.placements, { web: ['a', 'b'] })
  t.same(two.unplaceable.web, {
    copies: 1,
    reason: '1 of 3 copies unplaced: every machine holds a copy already (2 machine(s), copies go to distinct machines)',
    machines: { a: 'holds a copy', b: 'holds a copy' }
  })
  const mixed = plan([machine('a', { vcpu: 8 }), machine('b', { vcpu: 0.5 }), machine('c', { vcpu: 8 })], [web])
  t.same(
    mixed.unplaceable.web!.reason,
    '1 of 3 copies unplaced: no machine can take it: a: holds a copy; b: vcpu min 1 > capacity 0.5; c: holds a copy'
  )
  // A copy already placed counts: only the missing ones are placed, never beside it.
  const topUp = plan(
    ['a', 'b', 'c'].map(id => machine(id, { vcpu: 4 }, id === 'a' ? ['web'] : [])),
    [web]
  )
  t.same(topUp.placements, { web: ['b', 'c'] })
  t.same(
    topUp.decisions.map(d => d.copy),
    [1, 2]
  )
  // Each copy by the rule: the second goes to the least loaded machine without a copy.
  const loaded = plan(
    [machine('a', { vcpu: 4 }), machine('b', { vcpu: 4 }, ['big']), machine('c', { vcpu: 4 })],
    [svc('web', { vcpu: 1 }, { vcpu: 1 }, { instances: 2 }), svc('big', { vcpu: 3 })]
  )
  t.same(loaded.placements, { web: ['a', 'c'] })
})

t.test('order: manual placements first, then largest dominant share of best, then of min, then name', async t => {
  const machines = [machine('a', { vcpu: 4, ram: 10 }), machine('b', { vcpu: 4, ram: 10 })]
  const p = plan(machines, [
    svc('tiny', { vcpu: 0.5 }),
    svc('ramhog', { ram: 10 }), // 10/20 = 0.5
    svc('cpuhog', { vcpu: 4 }), // 4/8 = 0.5, tie with ramhog on best; min the same: by name
    svc('pinned', { vcpu: 0.1 }, { vcpu: 0.1 }, { hosts: ['b'] }),
    svc('bigmin', { vcpu: 1 }, { vcpu: 1 }), // 1/8
    svc('smallmin', { vcpu: 1 }, { vcpu: 0.5 }), // best ties bigmin, min smaller
    svc('gpu', { gpu: 1 }, {}) // a unit no machine declares: infinite share, first of the scheduled
  ])
  t.same(p.order, ['pinned', 'gpu', 'cpuhog', 'ramhog', 'bigmin', 'smallmin', 'tiny'])
  t.same(
    p.decisions.map(d => d.service),
    p.order,
    'placed in that order'
  )
})

t.test('largest first: both services find a best fit, where smallest first would over-commit', async t => {
  const p = plan(
    [machine('a', { vcpu: 4 }), machine('b', { vcpu: 2 })],
    [svc('small', { vcpu: 2 }), svc('big', { vcpu: 4 })]
  )
  t.same(
    p.decisions.map(d => [d.service, d.host, d.fit]),
    [
      ['big', 'a', 'best-fit'],
      ['small', 'b', 'best-fit']
    ]
  )
})

t.test('manual placement (fleet.hosts): where told, counted for others; an unknown host is unplaceable', async t => {
  const p = plan(
    [machine('a', { vcpu: 2 }), machine('b', { vcpu: 2 })],
    [svc('pinned', { vcpu: 3 }, { vcpu: 3 }, { hosts: ['a', 'ghost'], instances: 2 }), svc('x', { vcpu: 1 })]
  )
  t.same(p.placements, { pinned: ['a'], x: ['b'] })
  t.same(
    p.decisions[0],
    { service: 'pinned', copy: 1, host: 'a', fit: 'manual', load: 1.5 },
    "the operator's word, even above capacity"
  )
  t.same(p.unplaceable.pinned!.reason, 'fleet.hosts names "ghost", not a machine of the fleet')
})

t.test('disabled services are not placed; where they are, they count', async t => {
  const p = plan(
    [machine('a', { vcpu: 4 }, ['off']), machine('b', { vcpu: 4 })],
    [
      svc('off', { vcpu: 3 }, { vcpu: 3 }, { disabled: true }),
      svc('x', { vcpu: 2 }),
      svc('off2', { vcpu: 1 }, { vcpu: 1 }, { disabled: true })
    ]
  )
  t.same(p.placements, { x: ['b'] })
  t.same(p.order, ['x'])
})

t.test('input the loaders refuse is refused here too', async t => {
  const cases: Array<[PlanInput, RegExp]> = [
    [
      { machines: [machine('a', {}, ['ghost'])], services: [] },
      /machine "a" runs service "ghost", which is not among the services/
    ],
    [{ machines: [machine('a', {}), machine('a', {})], services: [] }, /machine "a" is given twice/],
    [{ machines: [], services: [svc('x', {}), svc('x', {})] }, /service "x" is given twice/],
    [{ machines: [], services: [svc('x', { vcpu: 1 }, { vcpu: 2 })] }, /min vcpu 2 is above best 1/],
    [
      { machines: [machine('a', { vcpu: -1 })], services: [] },
      /machine "a" vcpu: -1 is not a non-negative finite number/
    ],
    [{ machines: [], services: [svc('x', { vcpu: Number.NaN })] }, /NaN is not a non-negative finite number/],
    [{ machines: [], services: [svc('x', {}, {}, { instances: 0 })] }, /instances must be an integer >= 1/]
  ]
  for (const [input, message] of cases) {
    t.throws(() => planPlacements(input), { code: 'CND_FLEET_INPUT_INVALID', message }, message.source)
  }
})

t.test('serviceDemand: one of best/min stands for both; neither is nothing; instances 1 or the hosts', async t => {
  t.same(serviceDemand({ name: 's', disable: false, resources: { best: { vcpu: 2 } } }), {
    name: 's',
    best: { vcpu: 2 },
    min: { vcpu: 2 },
    instances: 1
  })
  t.same(serviceDemand({ name: 's', disable: false, resources: { min: { vcpu: 1 } } }), {
    name: 's',
    best: { vcpu: 1 },
    min: { vcpu: 1 },
    instances: 1
  })
  t.same(serviceDemand({ name: 's', disable: true }), { name: 's', best: {}, min: {}, instances: 1, disabled: true })
  t.same(serviceDemand({ name: 's', disable: false, fleet: { hosts: ['a', 'b'] } }), {
    name: 's',
    best: {},
    min: {},
    instances: 2,
    hosts: ['a', 'b']
  })
  t.same(serviceDemand({ name: 's', disable: false, fleet: { instances: 3 } }).instances, 3)
})

t.test('explain: B/N/C per unit with the service added, and why each machine was chosen or not', async t => {
  const x = svc('x', { vcpu: 2, ram: 4 }, { vcpu: 1, ram: 2 })
  const others = [svc('db', { vcpu: 2, ram: 8 })]
  const machines = [
    machine('a', { vcpu: 4, ram: 16 }, ['db']), // B vcpu 4/4, ram 12/16 -> best fit, load 1
    machine('b', { vcpu: 4, ram: 16 }), // 2/4, 4/16 -> best fit, load 0.5: chosen
    machine('c', { vcpu: 4, ram: 16 }), // same as b: tie, b first
    machine('d', { vcpu: 1, ram: 16 }), // vcpu 2 > 1: not a best fit
    machine('e', { vcpu: 0.5, ram: 16 }), // vcpu min 1 > 0.5: excluded
    machine('f', { vcpu: 8, ram: 8 }, ['x'])
  ]
  const e = explain(x, machineLoads('x', machines, [x, ...others]))
  t.equal(e.fit, 'best-fit')
  t.equal(e.chosen, 'b')
  t.same(e.machines.find(m => m.id === 'a')!.units, {
    ram: { best: 12, min: 10, capacity: 16, ratio: 0.75 },
    vcpu: { best: 4, min: 3, capacity: 4, ratio: 1 }
  })
  t.same(
    e.machines.map(m => [m.id, m.verdict, m.why]),
    [
      ['a', 'not chosen', 'best fit, load 1: above 0.5 on b'],
      ['b', 'chosen', 'chosen: best fit with the lowest load (max B/C 0.5), tied with c and first by peer id'],
      ['c', 'not chosen', 'best fit, load 0.5: the same as b, which comes first by peer id'],
      ['d', 'not chosen', 'not a best fit (vcpu best 2 > capacity 1) and b is'],
      ['e', 'excluded', 'excluded: vcpu min 1 > capacity 0.5'],
      ['f', 'holds a copy', 'runs a copy already: copies go to distinct machines']
    ]
  )
  const overFleet = [machine('d', { vcpu: 1, ram: 16 }), machine('g', { vcpu: 1.6, ram: 4 })]
  const over = explain(x, machineLoads('x', overFleet, [x]))
  t.equal(over.fit, 'over-commit')
  t.same(
    over.machines.map(m => [m.id, m.verdict, m.why]),
    [
      ['d', 'not chosen', 'over-commit 2 (vcpu best 2 > capacity 1): above 1.25 on g'],
      ['g', 'chosen', 'chosen: no machine is a best fit; lowest over-commit (max B/C 1.25)']
    ]
  )
})

// ---------------------------------------------------------------------------------------------
// Properties over random fleets.

// mulberry32: a 32-bit seeded generator, enough to make fleets reproducible by seed.
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), a | 1)
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61)
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

const UNITS = ['vcpu', 'ram', 'ports', 'gpu']

function randomFleet(seed: number): PlanInput {
  const rnd = prng(seed)
  const int = (n: number): number => Math.floor(rnd() * n)
  // Halves keep sums exact in the plain float reference as in the planner's millionths.
  const amount = (max: number): number => int(max * 2 + 1) / 2
  const services: Demand[] = []
  for (let i = 0, n = 1 + int(25); i < n; i++) {
    const best: Record<string, number> = {}
    const min: Record<string, number> = {}
    for (const u of UNITS) {
      if (rnd() < (u === 'gpu' ? 0.8 : 0.4)) continue
      best[u] = amount(u === 'gpu' ? 1 : 4)
      if (rnd() < 0.7) min[u] = Math.floor(best[u] * rnd() * 2) / 2
    }
    const name = `s${i.toString(36)}${int(3) === 0 ? '-x' : ''}`
    services.push({ name, best, min, instances: rnd() < 0.2 ? 2 + int(3) : 1 })
  }
  const machines: MachineSpec[] = []
  for (let i = 0, n = int(8); i < n; i++) {
    const capacity: Record<string, number> = {}
    for (const u of UNITS) if (rnd() < 0.8) capacity[u] = amount(u === 'gpu' ? 2 : 24)
    const placed = services.filter(() => rnd() < 0.06).map(s => s.name)
    machines.push({ id: String.fromCharCode(97 + int(26)) + i, capacity, services: placed })
  }
  if (rnd() < 0.1) {
    for (const s of services) if (s.instances === 1 && rnd() < 0.5) (s as { disabled?: boolean }).disabled = true
  }
  return { machines, services }
}

interface RefStep {
  service: string
  host: string
  fit: 'best-fit' | 'over-commit'
  load: number
  bestFitExisted: boolean
  fitsAfter: boolean
  minHeldAfter: boolean
  lowerEligible: boolean
}
interface RefPlan {
  placements: Record<string, string[]>
  unplaceable: Record<string, number>
  order: string[]
  steps: RefStep[]
}

// The rule as written in the issue, without the planner's vectors or running sums.
function referencePlan(input: PlanInput): RefPlan {
  const byName = new Map(input.services.map(s => [s.name, s]))
  const onMachine = new Map(input.machines.map(m => [m.id, [...m.services]]))
  const units = [
    ...new Set([
      ...input.machines.flatMap(m => Object.keys(m.capacity)),
      ...input.services.flatMap(s => [...Object.keys(s.best), ...Object.keys(s.min)])
    ])
  ]
  const total = (u: string): number => input.machines.reduce((n, m) => n + (m.capacity[u] ?? 0), 0)
  const share = (v: Units): number =>
    Math.max(
      0,
      ...Object.entries(v)
        .filter(([, a]) => a > 0)
        .map(([u, a]) => (total(u) === 0 ? Infinity : a / total(u)))
    )
  const order = input.services
    .filter(s => s.disabled !== true)
    .sort((a, b) => share(b.best) - share(a.best) || share(b.min) - share(a.min) || (a.name < b.name ? -1 : 1))
  const machines = [...input.machines].sort((a, b) => (a.id < b.id ? -1 : 1))
  const out: RefPlan = { placements: {}, unplaceable: {}, order: order.map(s => s.name), steps: [] }
  for (const x of order) {
    let have = machines.filter(m => onMachine.get(m.id)!.includes(x.name)).length
    while (have < x.instances) {
      const figures = machines
        .filter(m => !onMachine.get(m.id)!.includes(x.name))
        .map(m => {
          const S = [...onMachine.get(m.id)!.map(n => byName.get(n)!), x]
          const B = (u: string): number => S.reduce((n, s) => n + (s.best[u] ?? 0), 0)
          const N = (u: string): number => S.reduce((n, s) => n + (s.min[u] ?? 0), 0)
          const C = (u: string): number => m.capacity[u] ?? 0
          const ratio = (u: string): number => (B(u) === 0 ? 0 : C(u) === 0 ? Infinity : B(u) / C(u))
          const load = Math.max(0, ...units.map(ratio))
          return { m, fits: units.every(u => B(u) <= C(u)), minOk: units.every(u => N(u) <= C(u)), load }
        })
      const bestFits = figures.filter(f => f.fits)
      const eligible = bestFits.length > 0 ? bestFits : figures.filter(f => f.minOk)
      if (eligible.length === 0) {
        out.unplaceable[x.name] = x.instances - have
        break
      }
      const lowest = Math.min(...eligible.map(f => f.load))
      const chosen = eligible.filter(f => f.load === lowest)[0]! // figures are in peer id order
      onMachine.get(chosen.m.id)!.push(x.name)
      ;(out.placements[x.name] ??= []).push(chosen.m.id)
      out.steps.push({
        service: x.name,
        host: chosen.m.id,
        fit: bestFits.length > 0 ? 'best-fit' : 'over-commit',
        load: chosen.load,
        bestFitExisted: bestFits.length > 0,
        fitsAfter: chosen.fits,
        minHeldAfter: chosen.minOk,
        lowerEligible: eligible.some(f => f.load < chosen.load)
      })
      have++
    }
  }
  return out
}

function shuffled<T>(xs: readonly T[], rnd: () => number): T[] {
  const out = xs.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

const shuffleKeys = (u: Units, rnd: () => number): Units => Object.fromEntries(shuffled(Object.entries(u), rnd))

const FLEETS = 600

t.test(`properties over ${FLEETS} seeded random fleets`, async t => {
  const failures: string[] = []
  const seen = { decisions: 0, bestFit: 0, overCommit: 0, unplaceable: 0, instances: 0 }
  for (let seed = 1; seed <= FLEETS; seed++) {
    const input = randomFleet(seed)
    const got = planPlacements(input)
    const ref = referencePlan(input)
    const fail = (what: string): void => {
      failures.push(`seed ${seed}: ${what}`)
    }
    seen.decisions += got.decisions.length
    seen.bestFit += got.decisions.filter(d => d.fit === 'best-fit').length
    seen.overCommit += got.decisions.filter(d => d.fit === 'over-commit').length
    seen.unplaceable += Object.keys(got.unplaceable).length
    seen.instances += got.decisions.filter(d => d.copy > 1).length

    // Same plan as the plain reading of the rule: choices, order, what is left unplaced.
    if (JSON.stringify(got.placements) !== JSON.stringify(ref.placements)) {
      fail(`placements ${JSON.stringify(got.placements)} != reference ${JSON.stringify(ref.placements)}`)
    }
    const unplacedCopies = Object.fromEntries(Object.entries(got.unplaceable).map(([s, u]) => [s, u.copies]))
    if (JSON.stringify(unplacedCopies) !== JSON.stringify(ref.unplaceable)) fail('unplaceable differs from reference')
    if (JSON.stringify(got.order) !== JSON.stringify(ref.order)) fail('order differs from the reference')
    got.decisions.forEach((d, i) => {
      const r = ref.steps[i]
      if (r === undefined || r.host !== d.host || r.fit !== d.fit || r.load !== d.load) {
        fail(`decision ${i} ${JSON.stringify(d)} != ${JSON.stringify(r)}`)
      }
    })
    for (const r of ref.steps) {
      // Never exceeds capacity when a best fit exists; never below min; least maximum over-commit.
      if (r.bestFitExisted && !r.fitsAfter) fail(`${r.service} on ${r.host} exceeds capacity though a best fit existed`)
      if (!r.minHeldAfter) fail(`${r.service} on ${r.host} leaves a unit below min`)
      if (r.lowerEligible) fail(`${r.service} on ${r.host}: an eligible machine had a lower maximum ratio`)
    }
    // Copies on distinct machines.
    for (const [s, hosts] of Object.entries(got.placements)) {
      const already = input.machines.filter(m => m.services.includes(s)).map(m => m.id)
      const copies = new Set([...hosts, ...already])
      if (copies.size !== hosts.length + already.length) fail(`${s} has two copies on one machine`)
    }
    // Deterministic: again, and with every list and object shuffled.
    const again = planPlacements(input)
    if (JSON.stringify(again) !== JSON.stringify(got)) fail('a second run differs')
    const rnd = prng(seed * 7919)
    const mixed: PlanInput = {
      machines: shuffled(input.machines, rnd).map(m => ({
        ...m,
        capacity: shuffleKeys(m.capacity, rnd),
        services: shuffled(m.services, rnd)
      })),
      services: shuffled(input.services, rnd).map(s => ({
        ...s,
        best: shuffleKeys(s.best, rnd),
        min: shuffleKeys(s.min, rnd)
      }))
    }
    if (JSON.stringify(planPlacements(mixed)) !== JSON.stringify(got)) fail('shuffled input gives another plan')
    // explain agrees with the planner on the first decision of each fleet.
    const first = got.decisions[0]
    if (first !== undefined && first.fit !== 'manual') {
      const d = input.services.find(s => s.name === first.service)!
      const e = explain(d, machineLoads(d.name, input.machines, input.services))
      if (e.chosen !== first.host || e.fit !== first.fit) {
        fail(`explain chose ${e.chosen} (${e.fit}), the plan ${first.host} (${first.fit})`)
      }
    }
  }
  t.same(failures.slice(0, 10), [], 'no property fails')
  // The fleets exercise every branch of the rule, so the properties above are not vacuous.
  t.ok(seen.decisions > 2000, `${seen.decisions} decisions checked`)
  t.ok(seen.bestFit > 1000, `${seen.bestFit} best-fit decisions`)
  t.ok(seen.overCommit > 1000, `${seen.overCommit} over-commit decisions`)
  t.ok(seen.unplaceable > 100, `${seen.unplaceable} unplaceable services`)
  t.ok(seen.instances > 50, `${seen.instances} extra copies`)
})
