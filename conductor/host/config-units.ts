import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
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

export function writeReceipt(runDir: string, unit: string, kind: ReceiptKind): void {
  mkdirSync(receiptsDir(runDir), { recursive: true, mode: 0o700 })
  writeFileSync(receiptPath(runDir, unit, kind), `${process.pid}\n`)
}

/**
 * Receipts are written only under the reconcile lock, each removed by its writer once its
 * systemctl call returns: one found by the next lock holder was left by a killed process.
 */
export function clearAllReceipts(runDir: string): void {
  rmSync(receiptsDir(runDir), { recursive: true, force: true })
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
