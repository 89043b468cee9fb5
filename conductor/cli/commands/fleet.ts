import { statSync } from 'node:fs'
import type { Command } from 'commander'
import { FleetHostsInvalid, FleetUnknownService, UsageError } from '../../../errors/index.js'
import { Reported } from '../exit.js'
import {
  formatRatio,
  planPlacements,
  readHostsFile,
  serviceDemand,
  type MachineSpec,
  type Plan
} from '../../placement/index.js'
import { renderJson, renderTable } from '../../output.js'
import { loadAllServices, type ServiceEntry } from '../../model/index.js'
import type { CtxFactory } from './types.js'
import { registerFleetSyncCommands } from './fleet-storage.js'
import { registerFleetSchedulerCommands } from './fleet-scheduler.js'

// `conductor fleet plan`: the placement rule (README "Fleet placement") on a fleet described in
// a file, without a cluster, so an operator can see where services would go before any host
// runs them. zod is loaded only inside the action (the hosts file reader), never for --help.

const FIT_LABEL = { 'best-fit': 'best fit', 'over-commit': 'over-commit', manual: 'manual (fleet.hosts)' } as const

export function registerFleetCommands(program: Command, makeCtx: CtxFactory): void {
  const fleet = program
    .command('fleet')
    .description('Fleet: service directories synced to every host, and where services run across machines')
  registerFleetSyncCommands(fleet, makeCtx)
  registerFleetSchedulerCommands(fleet, makeCtx)

  fleet
    .command('plan')
    .description(
      'Place every service that is on no machine of HOSTS.json by the placement rule and print the ' +
        'placements; exit 1 if a service cannot be placed, 3 if a service is invalid, ' +
        '4 if HOSTS.json names an unknown service'
    )
    .requiredOption(
      '--hosts <file>',
      'JSON array of machines: [{"id": "a", "resources": {"vcpu": 4}, "services": ["already-placed"]}]'
    )
    .option('--services <dir>', 'services directory (default: --services-dir, else ROOT/etc/conductor/services)')
    .option('--json', 'print {"placements": {"SERVICE": ["HOST", ...]}, "unplaceable": {"SERVICE": "reason"}}')
    .action(async function (this: Command, opts: { hosts: string; services?: string; json?: boolean }) {
      const ctx = makeCtx(this)
      const dir = opts.services ?? ctx.roots.services
      if (opts.services !== undefined && !isDirectory(opts.services)) {
        throw new UsageError(`--services ${opts.services}: not a directory`)
      }
      const machines = await readHostsFile(opts.hosts)
      let entries: ServiceEntry[]
      try {
        entries = await loadAllServices(dir, ctx.validationCache)
      } finally {
        ctx.validationCache.save()
      }

      // Invalid services are reported as `service ls` does, and planned without (exit 3).
      for (const e of entries) if (e.error !== undefined) ctx.io.err(`conductor: ${e.error.message}\n`)
      checkPlacedServices(opts.hosts, machines, entries, dir)

      const services = entries.flatMap(e => (e.service !== undefined ? [serviceDemand(e.service)] : []))
      const plan = planPlacements({ machines, services })
      if (opts.json === true) {
        const unplaceable = Object.fromEntries(Object.entries(plan.unplaceable).map(([s, u]) => [s, u.reason]))
        ctx.io.out(renderJson({ placements: plan.placements, unplaceable }))
      } else {
        ctx.io.out(renderPlan(plan))
        ctx.io.err(summary(plan, services.length, services.filter(s => s.disabled === true).length) + '\n')
      }
      if (entries.some(e => e.error !== undefined)) throw new Reported('CND_SERVICE_INVALID')
      if (Object.keys(plan.unplaceable).length > 0) throw new Reported('CND_FLEET_UNPLACEABLE')
    })
}

// A service the hosts file puts on a machine counts with its declared resources; without a
// valid declaration the sums of that machine would be guessed, and so would the plan: refuse.
function checkPlacedServices(file: string, machines: MachineSpec[], entries: ServiceEntry[], dir: string): void {
  const byName = new Map(entries.map(e => [e.name, e]))
  const unknown: string[] = []
  const invalid: string[] = []
  machines.forEach((m, i) => {
    m.services.forEach((name, j) => {
      const where = `${file}: /${i}/services/${j}: `
      const entry = byName.get(name)
      const remove = `or remove it from machine "${m.id}"`
      if (entry === undefined) {
        unknown.push(
          `${where}service "${name}" is not in ${dir}: its resources are unknown; ` +
            `add its directory there (or point --services at the right one) ${remove}`
        )
      } else if (entry.service === undefined) {
        invalid.push(
          `${where}service "${name}" is invalid (reported above): its resources are unknown; ` +
            `fix ${entry.file} ${remove}`
        )
      }
    })
  })
  if (unknown.length > 0) throw withLines(new FleetUnknownService(unknown[0]!), [...unknown, ...invalid])
  if (invalid.length > 0) throw withLines(new FleetHostsInvalid(invalid[0]!), invalid)
}

function withLines<E extends Error>(err: E, lines: string[]): E {
  err.message = lines.join('\n')
  return err
}

function renderPlan(plan: Plan): string {
  const rows = plan.decisions.map(d => [d.service, d.host, FIT_LABEL[d.fit], formatRatio(d.load)])
  let text = renderTable(['SERVICE', 'HOST', 'FIT', 'LOAD'], rows)
  const unplaceable = Object.entries(plan.unplaceable)
  if (unplaceable.length > 0) text += '\nunplaceable:\n' + unplaceable.map(([s, u]) => `  ${s}: ${u.reason}\n`).join('')
  return text
}

function summary(plan: Plan, services: number, disabled: number): string {
  const placed = Object.keys(plan.placements).length
  const unplaceable = Object.values(plan.unplaceable).reduce((n, u) => n + u.copies, 0)
  const untouched = services - disabled - plan.order.filter(s => s in plan.placements || s in plan.unplaceable).length
  return (
    `${services} service(s): ${plan.decisions.length} copy(ies) of ${placed} placed, ` +
    `${unplaceable} copy(ies) unplaceable, ${untouched} already placed, ${disabled} disabled (not placed)`
  )
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}
