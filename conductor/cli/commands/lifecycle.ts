import type { Command } from 'commander'
import { DeploymentNotFound, UsageError } from '../../../errors/index.js'
import { Reported } from '../exit.js'
import { readDeployment, readDeployments, replicaOf, writeDeployment, type DeploymentState } from '../../state/index.js'
import { renderJson, renderTable } from '../../output.js'
import type { Action, ReconcileOutcome, SystemCtx } from '../../reconcile/index.js'
import type { Service } from '../../model/index.js'
import { ctxService, type Ctx } from '../../context.js'
import { deploymentUnit, serviceUnit } from '../../model/index.js'
import type { CtxFactory } from './types.js'
import { activeUnitsOrWarn } from './running-state.js'

// Lifecycle commands on top of the reconciler: `service start|stop|restart|status|logs`,
// `deployment ls|start|stop`. Each takes the reconcile lock like `reload` does.
//
// The reconciler is imported by the actions that run, not by this file: `service ls` registers
// these commands too (commander needs every subcommand of `service`), and would otherwise load
// the reconciler, the Caddy driver and node:http at every start.
const reconciler = (): Promise<typeof import('../../reconcile/index.js')> => import('../../reconcile/index.js')

async function systemContext(ctx: Ctx): Promise<SystemCtx> {
  return await (await reconciler()).systemContext(ctx)
}

/** `service stop`: its deployments removed (with hooks), its unit stopped, under the reconcile lock. */
export async function stopService(sctx: SystemCtx, name: string): Promise<ReconcileOutcome> {
  const svc = await ctxService(sctx, name)
  const { acquireReloadLock, applyPlan, observe } = await reconciler()
  const release = acquireReloadLock(sctx.roots.run)
  try {
    const observed = await observe(sctx, { pods: false })
    const recs = observed.records.filter(r => r.service === name)
    const plan: Action[] = [
      ...recs.map(r => ({ kind: 'remove-deployment' as const, service: name, id: r.id, reason: 'service stop' })),
      { kind: 'stop-service', service: name }
    ]
    const nothing = { services: [], disabled: [], broken: [] }
    const results = await applyPlan(plan, sctx, new Map([[name, svc]]), nothing, observed)
    return { plan, results, broken: [], dryRun: false }
  } finally {
    release()
  }
}

export function registerServiceLifecycle(service: Command, makeCtx: CtxFactory): void {
  // start and restart are a reload limited to one service; restart also replaces its deployments.
  const reconcileOne = (command: string, description: string, replace: boolean): void => {
    service
      .command(command)
      .description(description)
      .argument('<name>', 'service name')
      .option('--json', 'print JSON')
      .action(async function (this: Command, name: string, opts: { json?: boolean }) {
        const sctx = await systemContext(makeCtx(this))
        const svc = await ctxService(sctx, name)
        if (svc.disable)
          throw new UsageError(`service "${name}" is disabled ("disable": true in ${svc.file}); enable it first`)
        const only = new Set([name])
        const { reconcile } = await reconciler()
        await reportOutcome(sctx, await reconcile(sctx, replace ? { only, forceReplace: only } : { only }), opts.json)
      })
  }
  reconcileOne(
    'start',
    'Start a service (its service unit and one deployment per pod part), like a reload limited to it',
    false
  )
  reconcileOne(
    'restart',
    'Replace every deployment of a service with a new one (new ones start before old ones stop)',
    true
  )

  service
    .command('stop')
    .description(
      'Stop a service: remove its deployments (with hooks) and stop its unit. `conductor reload` starts it again unless it is disabled'
    )
    .argument('<name>', 'service name')
    .option('--json', 'print JSON')
    .action(async function (this: Command, name: string, opts: { json?: boolean }) {
      const sctx = await systemContext(makeCtx(this))
      await reportOutcome(sctx, await stopService(sctx, name), opts.json)
    })

  service
    .command('status')
    .description('Show the service unit and its deployments with their unit state, ports and pod IP')
    .argument('<name>', 'service name')
    .option('--json', 'print JSON')
    .action(async function (this: Command, name: string, opts: { json?: boolean }) {
      const sctx = await systemContext(makeCtx(this))
      const svc = await ctxService(sctx, name)
      const active = await activeUnits(sctx)
      const deployments = readDeployments(sctx.roots.deployments)
        .records.filter(r => r.service === name)
        .map(r => describeDeployment(r, active))
      const status = {
        service: name,
        unit: serviceUnit(name),
        // The listing holds loaded units in every state (an enabled unit stays loaded, inactive).
        active: active.get(serviceUnit(name)) === 'active',
        disabled: svc.disable,
        deployments
      }
      if (opts.json === true) {
        sctx.io.out(renderJson(status))
        return
      }
      sctx.io.out(
        `${name}: ${status.active ? 'running' : 'stopped'}${svc.disable ? ' (disabled)' : ''}  unit ${status.unit}\n`
      )
      sctx.io.out(
        renderTable(
          ['DEPLOYMENT', 'PART', 'DESIRED', 'UNIT', 'PORTS', 'POD IP'],
          deployments.map(d => [d.id, d.part, d.desired, d.unit_state ?? '?', formatPorts(d.ports), d.pod_ip])
        )
      )
    })

  service
    .command('logs')
    .description("Print the container logs of the service's running deployments (podman pod logs)")
    .argument('<name>', 'service name')
    .option('--tail <n>', 'last N lines of each container')
    .action(async function (this: Command, name: string, opts: { tail?: string }) {
      const sctx = await systemContext(makeCtx(this))
      await ctxService(sctx, name)
      const tail = opts.tail === undefined ? undefined : Number(opts.tail)
      if (tail !== undefined && (!Number.isInteger(tail) || tail < 0))
        throw new UsageError(`--tail ${opts.tail}: expected a whole number`)
      const recs = readDeployments(sctx.roots.deployments).records.filter(
        r => r.service === name && r.desired === 'running'
      )
      if (recs.length === 0) sctx.io.err(`conductor: service "${name}" has no running deployment\n`)
      for (const r of recs) sctx.io.out(`==> ${r.id} <==\n${await sctx.drivers.podman.logs(r.id, tail)}\n`)
    })
}

export function registerDeploymentLifecycle(deployment: Command, makeCtx: CtxFactory): void {
  deployment
    .command('ls')
    .description(
      'List recorded deployments with their state and the display_service_deployment_config / display_deployment_config columns'
    )
    .argument('[service]', 'only this service')
    .option('--json', 'print JSON')
    .action(async function (this: Command, only: string | undefined, opts: { json?: boolean }) {
      const sctx = await systemContext(makeCtx(this))
      const { loadDesired, deploymentVars } = await reconciler()
      const { services } = await loadDesired(sctx.roots.services, sctx.validationCache)
      // As `service ls`: without systemd the unit state is "?" (null in JSON), with a warning.
      const active = await activeUnitsOrWarn(sctx, sctx)
      const recs = readDeployments(sctx.roots.deployments).records.filter(r => only === undefined || r.service === only)
      const rows = recs.map(r => {
        const svc = services.get(r.service)
        const vars = svc === undefined ? r.config : safeVars(() => deploymentVars(sctx, svc, r), r)
        const columns: Record<string, string> = {}
        for (const k of svc?.display_service_deployment_config ?? []) columns[k] = svc?.config[k] ?? ''
        for (const k of svc?.display_deployment_config ?? []) columns[k] = vars[k] ?? ''
        return { ...describeDeployment(r, active), columns }
      })
      // A deploy forgets the old deployment while systemd still stops it (--no-block): its unit,
      // stopping or failed, is listed until it is gone (a failure until the next reload).
      const gone = removedUnits(active, new Set(recs.map(r => r.id)), [...services.keys()], only)
      rows.push(...gone.map(d => ({ ...d, columns: {} })))
      if (opts.json === true) {
        sctx.io.out(renderJson(rows))
        return
      }
      const extra = [...new Set(rows.flatMap(r => Object.keys(r.columns)))]
      // A REPLICA column (0, 1, ...) once a listed part has replicas; without them, as before.
      const replicated = (r: DeploymentRow): boolean =>
        (r.replica ?? 0) > 0 || (services.get(r.service)?.pods.find(p => p.name === r.part)?.replicas ?? 1) > 1
      const replicaColumn = rows.some(replicated)
      sctx.io.out(
        renderTable(
          ['ID', 'SERVICE', 'PART', ...(replicaColumn ? ['REPLICA'] : []), 'DESIRED', 'UNIT', 'PORTS', ...extra],
          rows.map(r => [
            r.id,
            r.service,
            r.part === '' ? '-' : r.part,
            ...(replicaColumn ? [r.replica === null ? '?' : String(r.replica)] : []),
            r.desired,
            r.unit_state ?? '?',
            formatPorts(r.ports),
            ...extra.map(c => r.columns[c] ?? '')
          ])
        )
      )
    })

  deployment
    .command('start')
    .description('Start a recorded deployment again (same id, ports and rendered files), with its hooks')
    .argument('<id>', 'deployment id')
    .action(async function (this: Command, id: string) {
      const sctx = await systemContext(makeCtx(this))
      const { rec, svc } = await recordAndService(sctx, id)
      const { acquireReloadLock, startDeployment, writeDropIn } = await reconciler()
      const release = acquireReloadLock(sctx.roots.run)
      try {
        if (writeDropIn(sctx, svc, rec)) await sctx.drivers.systemd.daemonReload()
        const started = await startDeployment(sctx, svc, { ...rec, desired: 'running' })
        sctx.io.out(`started ${started.id}${started.pod_ip === '' ? '' : ` (pod IP ${started.pod_ip})`}\n`)
      } finally {
        release()
      }
    })

  deployment
    .command('stop')
    .description(
      'Stop a deployment (with its hooks) and keep its record: `reload` leaves it stopped until it is replaced; `deployment start` resumes it'
    )
    .argument('<id>', 'deployment id')
    .action(async function (this: Command, id: string) {
      const sctx = await systemContext(makeCtx(this))
      const { rec, svc } = await recordAndService(sctx, id)
      const { acquireReloadLock, stopDeployment } = await reconciler()
      const release = acquireReloadLock(sctx.roots.run)
      try {
        await stopDeployment(sctx, svc, rec)
        writeDeployment(sctx.roots.deployments, { ...rec, desired: 'stopped', pod_ip: '' })
        sctx.io.out(`stopped ${id}\n`)
      } finally {
        release()
      }
    })
}

export async function recordAndService(sctx: SystemCtx, id: string): Promise<{ rec: DeploymentState; svc: Service }> {
  const rec = readDeployment(sctx.roots.deployments, id)
  if (rec === undefined)
    throw new DeploymentNotFound(
      `no recorded deployment "${id}" in ${sctx.roots.deployments}; see \`conductor deployment ls\``
    )
  return { rec, svc: await ctxService(sctx, rec.service) }
}

export async function reportOutcome(
  sctx: SystemCtx,
  outcome: ReconcileOutcome,
  json: boolean | undefined
): Promise<void> {
  const { outcomeJson, renderOutcome } = await reconciler()
  sctx.io.out(json === true ? renderJson(outcomeJson(outcome)) : renderOutcome(outcome))
  // Printed above; the exit code says the worst of it (an action failed, else something not applied).
  if (outcome.results.some(r => !r.ok)) throw new Reported('CND_ACTIONS_FAILED')
  if (outcome.broken.length > 0) throw new Reported('CND_SERVICE_INVALID')
  if ((outcome.caddy?.errors.length ?? 0) > 0) throw new Reported('CND_CADDY_CONVERGE_FAILED')
}

export async function activeUnits(sctx: SystemCtx): Promise<Map<string, string>> {
  const units = await sctx.drivers.systemd.list(['conductor-*'])
  return new Map(units.map(u => [u.unit, u.active]))
}

interface DeploymentRow {
  id: string
  service: string
  part: string
  /** Its index among the part's replicas (0 without replicas); null: not known (a removed unit). */
  replica: number | null
  desired: string
  unit: string
  /** null: systemd could not be asked. */
  unit_state: string | null
  ports: Record<string, number>
  pod_ip: string
  created_at: string
}

function describeDeployment(r: DeploymentState, active: Map<string, string> | undefined): DeploymentRow {
  const unit = deploymentUnit(r.id)
  const state = active === undefined ? null : (active.get(unit) ?? 'inactive')
  return {
    id: r.id,
    service: r.service,
    part: r.part,
    replica: replicaOf(r),
    desired: r.desired,
    unit,
    unit_state: state,
    ports: r.ports,
    pod_ip: r.pod_ip,
    created_at: r.created_at
  }
}

/** Deployment units with no record that are still stopping or failed to stop (none known without systemd). */
function removedUnits(
  active: Map<string, string> | undefined,
  recorded: Set<string>,
  services: string[],
  only: string | undefined
): DeploymentRow[] {
  const out: DeploymentRow[] = []
  if (active === undefined) return out
  for (const [unit, state] of [...active].sort()) {
    const id = /^conductor-deployment@(.+)\.service$/.exec(unit)?.[1]
    if (id === undefined || recorded.has(id) || (state !== 'deactivating' && state !== 'failed')) continue
    const service = services.filter(s => id.startsWith(s + '-')).sort((x, y) => y.length - x.length)[0] ?? '?'
    if (only !== undefined && service !== only) continue
    out.push({
      id,
      service,
      part: '?',
      replica: null,
      desired: 'removed',
      unit,
      unit_state: state,
      ports: {},
      pod_ip: '',
      created_at: ''
    })
  }
  return out
}

function safeVars(vars: () => Record<string, string>, r: DeploymentState): Record<string, string> {
  try {
    return vars()
  } catch {
    return r.config
  }
}

function formatPorts(ports: Record<string, number>): string {
  return (
    Object.entries(ports)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-'
  )
}
