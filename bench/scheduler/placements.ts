import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { planPlacements, type Demand, type MachineSpec, type PlanInput } from '../../conductor/placement/index.js'
import { binPath } from '../../test/harness/cli.js'
import { tempDir, writeTree } from '../../test/harness/tmp.js'

// Times planPlacements on seeded fleets of SERVICES services and MACHINES machines, three
// shapes: room for every best (best fits), demand above capacity (over-commit, with some
// unplaceable), and every service with 3 instances. Then the same roomy fleet through the
// compiled `conductor fleet plan` (load the service files, validate, plan, print) for scale.

const SERVICES = Number(process.env.SERVICES ?? 1000)
const MACHINES = Number(process.env.MACHINES ?? 50)
const RUNS = Number(process.env.RUNS ?? 20)
const teardowns: Array<() => void> = []
const t = {
  teardown: (fn: () => void) => {
    teardowns.push(fn)
  }
}

// mulberry32, the generator of the placement property tests: the same seed, the same fleet.
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), a | 1)
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61)
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

/** `load` = Σ best over the services / Σ capacity over the machines, per unit (about). */
function fleet(seed: number, load: number, instances: number): PlanInput {
  const rnd = prng(seed)
  const capacity = { vcpu: 32, ram_gb: 128, ports: 64, gpu: 2 }
  const machines: MachineSpec[] = Array.from({ length: MACHINES }, (_, i) => ({
    id: `host-${String(i).padStart(3, '0')}`,
    capacity: i % 5 === 0 ? capacity : { vcpu: capacity.vcpu, ram_gb: capacity.ram_gb, ports: capacity.ports },
    services: []
  }))
  // Mean best per unit so that services × instances × mean ≈ load × total capacity; min is
  // uniform in [0, best], so Σ min ≈ half of Σ best.
  const mean = (total: number): number => (load * total) / (SERVICES * instances)
  const services: Demand[] = Array.from({ length: SERVICES }, (_, i) => {
    const best: Record<string, number> = {}
    const min: Record<string, number> = {}
    const totals = [
      ['vcpu', 32 * MACHINES],
      ['ram_gb', 128 * MACHINES],
      ['ports', 64 * MACHINES]
    ] as const
    for (const [unit, total] of totals) {
      best[unit] = Math.round(mean(total) * 2 * rnd() * 100) / 100
      min[unit] = Math.round(best[unit] * rnd() * 100) / 100
    }
    if (rnd() < 0.02) {
      best.gpu = 1
      min.gpu = 1
    }
    return { name: `svc-${String(i).padStart(4, '0')}`, best, min, instances }
  })
  return { machines, services }
}

interface Timing {
  ms: number[]
  copies: number
  bestFit: number
  overCommit: number
  unplaceable: number
}

function time(input: PlanInput): Timing {
  for (let i = 0; i < 3; i++) planPlacements(input) // warm-up: V8 compiles the hot loop
  const ms: number[] = []
  let plan = planPlacements(input)
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now()
    plan = planPlacements(input)
    ms.push(performance.now() - s)
  }
  const fits = plan.decisions.map(d => d.fit)
  return {
    ms,
    copies: plan.decisions.length,
    bestFit: fits.filter(f => f === 'best-fit').length,
    overCommit: fits.filter(f => f === 'over-commit').length,
    unplaceable: Object.values(plan.unplaceable).reduce((n, u) => n + u.copies, 0)
  }
}

function main(): void {
  const cases: Array<[string, PlanInput]> = [
    ['roomy: Σ best ≈ 60% of capacity, 1 instance', fleet(1, 0.6, 1)],
    ['tight: Σ best ≈ 150%, Σ min ≈ 75% of capacity, 1 instance', fleet(2, 1.5, 1)],
    ['3 instances each, Σ best ≈ 60% (gpu: 10 machines)', fleet(3, 0.6, 3)]
  ]
  const rows: string[][] = []
  for (const [name, input] of cases) {
    const r = time(input)
    const med = median(r.ms)
    const spread = [ms(med), ms(Math.min(...r.ms)), ms(Math.max(...r.ms))]
    const perSecond = String(Math.round(r.copies / (med / 1000)))
    rows.push([name, String(r.copies), `${r.bestFit} / ${r.overCommit} / ${r.unplaceable}`, ...spread, perSecond])
  }
  const cli = cliRuns(cases[0]![1])
  const load = os
    .loadavg()
    .map(l => l.toFixed(2))
    .join(' ')
  const cpu = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ')
  console.log(
    `${SERVICES} services on ${MACHINES} machines; ${cpu}, Node ${process.version}; ` +
      `${when} UTC; load average ${load}; ${RUNS} runs after 3 warm-up runs\n`
  )
  console.log('| fleet | copies placed | best fit / over-commit / unplaceable | median | min | max | placements/s |')
  console.log('|---|---:|---|---:|---:|---:|---:|')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  console.log(
    `\n\`conductor fleet plan --json\` as a process on the roomy fleet (${SERVICES} service files, ` +
      'first run validates with zod, the next ones hit the validation cache): ' +
      `first ${ms(cli.first)}, then median ${ms(median(cli.rest))} of ${cli.rest.length}`
  )
}

function cliRuns(input: PlanInput): { first: number; rest: number[] } {
  const root = tempDir(t, 'conductor-bench-')
  const files: Record<string, object> = {}
  for (const s of input.services) {
    files[`services/${s.name}/conductor-service.json`] = { resources: { best: s.best, min: s.min } }
  }
  files['hosts.json'] = input.machines.map(m => ({ id: m.id, resources: m.capacity, services: m.services }))
  writeTree(root, files)
  const env = { PATH: process.env.PATH, CONDUCTOR_CACHE_DIR: path.join(root, 'cache') }
  const hosts = path.join(root, 'hosts.json')
  const args = [binPath, 'fleet', 'plan', '--hosts', hosts, '--services', path.join(root, 'services'), '--json']
  const run = (): number => {
    const s = performance.now()
    execFileSync(process.execPath, args, { env, stdio: 'ignore' })
    return performance.now() - s
  }
  const first = run()
  return { first, rest: Array.from({ length: 5 }, run) }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ms = (x: number): string => `${x < 10 ? x.toFixed(1) : x.toFixed(0)} ms`

try {
  main()
} finally {
  for (const fn of teardowns.reverse()) fn()
}
