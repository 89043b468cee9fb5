import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { deploymentConfigUnit, deploymentUnit, serviceConfigUnit, serviceUnit } from '../model/index.js'
import { HEADER, type UnitPaths } from './unit-files.js'

// The config units (spec variables CONDUCTOR_SERVICE_CONFIG_UNIT, CONDUCTOR_DEPLOYMENT_CONFIG_UNIT):
// a oneshot, RemainAfterExit unit bound to each service and deployment unit. Its start runs the
// post-start hooks and registers the Caddy snippets; its stop runs the stop hooks and removes
// them. Bound with BindsTo= + After= to its main unit, so any stop of the main unit, whoever
// starts it (`systemctl stop`, a shutdown, a crash and its restart), stops the config unit
// first: routes leave Caddy before the pod stops.
//
// Conductor's own commands (reload, deploy, `service stop`...) do that work themselves, in
// process: a failing pre-stop hook must abort their stop, hook output goes into their errors,
// and a deploy registers only after readiness, in one Caddy change with the old routes' removal.
// Before they start or stop a unit they leave a receipt (`<run>/units/UNIT.start|.stop`); the
// config unit's ExecStart/ExecStopPost consumes it with a `rm` and does nothing else. With no
// receipt (systemd acting on its own) it runs `conductor _ deployment|service attach|detach`.
// So the work is done once, by whoever started the start or stop.

export const SERVICE_CONFIG_TEMPLATE = 'conductor-service-config@.service'
export const DEPLOYMENT_CONFIG_TEMPLATE = 'conductor-deployment-config@.service'

export type ReceiptKind = 'start' | 'stop'

export const receiptsDir = (runDir: string): string => path.join(runDir, 'units')
export const receiptPath = (runDir: string, unit: string, kind: ReceiptKind): string =>
  path.join(receiptsDir(runDir), `${unit}.${kind}`)

/** The config unit bound to a service or deployment unit. */
export function configUnitOf(unit: string): string | undefined {
  const svc = /^conductor-service@(.+)\.service$/.exec(unit)?.[1]
  if (svc !== undefined) return serviceConfigUnit(svc)
  const dep = /^conductor-deployment@(.+)\.service$/.exec(unit)?.[1]
  return dep === undefined ? undefined : deploymentConfigUnit(dep)
}

/** The config templates exist (hosts installed by an older `system install` have none). */
export function configUnitsInstalled(unitsDir: string): boolean {
  return [DEPLOYMENT_CONFIG_TEMPLATE, SERVICE_CONFIG_TEMPLATE].every(t => existsSync(path.join(unitsDir, t)))
}

/**
 * A receipt holds its writer's pid and, for a stop only queued in systemd (`systemctl stop
 * --no-block`: a deploy's old deployment), the word `queued`: its writer is gone long before the
 * config unit consumes it.
 */
export function writeReceipt(runDir: string, unit: string, kind: ReceiptKind, queued = false): void {
  mkdirSync(receiptsDir(runDir), { recursive: true, mode: 0o700 })
  writeFileSync(receiptPath(runDir, unit, kind), `${process.pid}${queued ? ' queued' : ''}\n`)
}

export interface Receipt {
  /** The config unit it is for. */
  unit: string
  kind: ReceiptKind
  /** Its writer (undefined: unreadable). */
  pid: number | undefined
  queued: boolean
}

/** The receipts present (a config unit removes its own when it consumes it). */
export function readReceipts(runDir: string): Receipt[] {
  let names: string[]
  try {
    names = readdirSync(receiptsDir(runDir))
  } catch {
    return []
  }
  const out: Receipt[] = []
  for (const name of names) {
    const m = /^(.+)\.(start|stop)$/.exec(name)
    if (m === null) continue
    let words: string[] = []
    try {
      words = readFileSync(path.join(receiptsDir(runDir), name), 'utf8')
        .trim()
        .split(/\s+/)
    } catch {
      continue // consumed meanwhile
    }
    const pid = Number(words[0])
    out.push({
      unit: m[1]!,
      kind: m[2] as ReceiptKind,
      pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
      queued: words.includes('queued')
    })
  }
  return out.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : a.kind < b.kind ? -1 : 1))
}

/** Unit states in which a queued stop has not reached the config unit's ExecStopPost yet. */
const STOP_PENDING = new Set(['active', 'activating', 'deactivating', 'reloading'])

/**
 * The receipts a reconcile removes before it starts: those a killed process left, which would
 * make a config unit skip work nobody did. Pure. Kept: a receipt of another live process (its
 * systemctl call still runs; it removes its own), and a queued stop whose config unit has not
 * stopped yet (`stateOf` its ActiveState, undefined when not loaded): the deploy that queued it
 * did the work already (stop hooks, routes switched), and without the receipt the config unit
 * would run detach again (pre-stop hooks twice, a route shared with the new deployment removed).
 */
export function staleReceipts(
  receipts: readonly Receipt[],
  stateOf: (unit: string) => string | undefined,
  isAlive: (pid: number) => boolean,
  self = process.pid
): Receipt[] {
  return receipts.filter(r => {
    if (r.pid !== undefined && r.pid !== self && isAlive(r.pid)) return false
    if (r.queued && r.kind === 'stop' && STOP_PENDING.has(stateOf(r.unit) ?? 'inactive')) return false
    return true
  })
}

/** Removes a receipt the unit did not consume (it was not started or stopped after all). */
export function clearReceipt(runDir: string, unit: string, kind: ReceiptKind): void {
  rmSync(receiptPath(runDir, unit, kind), { force: true })
}

function quoteArg(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$')}"`
}

function envLines(env: Record<string, string>): string {
  return Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `Environment=${quoteArg(`${k}=${v}`)}\n`)
    .join('')
}

/**
 * `sh -c 'rm -- RECEIPT || exec CONDUCTOR ...'`: a receipt costs a `rm`, not a Node start.
 * `$$` is systemd's literal `$`; %n is this unit's full name.
 */
function receiptOr(p: UnitPaths, kind: ReceiptKind, args: string[]): string {
  const receipt = path.join(receiptsDir(p.runDir), `%n.${kind}`)
  const argv = [receipt, ...p.conductor, ...args].map(quoteArg).join(' ')
  return `/bin/sh -c 'rm -- "$$0" 2>/dev/null || exec "$$@"' ${argv}`
}

function render(p: UnitPaths, what: 'service' | 'deployment', main: string): string {
  // Hooks and templates are bounded by their own timeouts (hooks 60 s, templates 30 s, a
  // deployment's readiness timeout_sec): these limits only stop a unit that hangs anyway.
  // Detach is ExecStopPost, not ExecStop: systemd runs ExecStop only for an active unit, so a
  // stop arriving while attach still runs (it may have registered routes) would skip it.
  // ExecStopPost runs however the unit goes down: stopped, attach interrupted, or attach failed.
  return `${HEADER}[Unit]
Description=Conductor ${what} %i: Caddy routes and hooks
BindsTo=${main}
After=${main}

[Service]
Type=oneshot
RemainAfterExit=yes
${envLines(p.environment)}ExecStart=${receiptOr(p, 'start', ['_', what, 'attach', '%i'])}
ExecStopPost=${receiptOr(p, 'stop', ['_', what, 'detach', '%i'])}
TimeoutStartSec=10min
TimeoutStopSec=10min
`
}

/** Bound to conductor-service@NAME: post-start-service hooks and the service's snippets. */
export function renderServiceConfigTemplate(p: UnitPaths): string {
  return render(p, 'service', serviceUnit('%i'))
}

/** Bound to conductor-deployment@ID: readiness, post-start hooks and the deployment's snippets. */
export function renderDeploymentConfigTemplate(p: UnitPaths): string {
  return render(p, 'deployment', deploymentUnit('%i'))
}
