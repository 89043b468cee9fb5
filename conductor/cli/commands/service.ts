import type { Command } from 'commander'
import { formatProblem, ServiceInvalid } from '../../../errors/index.js'
import { Reported } from '../exit.js'
import { renderEnv, renderJson, renderTable } from '../../output.js'
import type { Service, ServiceEntry } from '../../model/index.js'
import { ctxService, ctxServices, type Ctx } from '../../context.js'
import { baseVariables, readFleetView, serviceVariables } from '../../model/index.js'
import { serviceUnit } from '../../model/index.js'
import type { CtxFactory } from './types.js'
import { registerServiceLifecycle } from './lifecycle.js'
import { activeUnitsOrWarn, runningStates } from './running-state.js'

export function registerServiceCommands(program: Command, makeCtx: CtxFactory): void {
  const service = program.command('service').description('Services: list, inspect, start, stop, restart, status, logs')

  service
    .command('ls')
    .description(
      'List services with their display_service_config columns; broken services are marked INVALID (exit 3 if any)'
    )
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const units = activeUnitsOrWarn(ctx)
      const entries = await ctxServices(ctx)
      const running = runningStates(
        ctx,
        entries.map(e => e.name),
        await units
      )
      const columns = unique(entries.flatMap(e => e.service?.display_service_config ?? []))
      // On a host of a fleet: where each service is placed (the fleet daemon's placement file).
      const fleet = readFleetView(ctx.roots.lib)
      const placed = (name: string): string[] | null => fleet?.services[name]?.hosts ?? null
      if (opts.json === true) {
        ctx.io.out(
          renderJson(
            entries.map(e => ({
              name: e.name,
              file: e.file,
              valid: e.service !== undefined,
              ...(e.service !== undefined
                ? {
                    app: e.service.app_name,
                    instance: e.service.instance_name,
                    disabled: e.service.disable,
                    unit: serviceUnit(e.name),
                    running: running.get(e.name) ?? null,
                    ...(fleet !== undefined ? { fleet_hosts: placed(e.name) } : {}),
                    config: pick(e.service.config, e.service.display_service_config)
                  }
                : { errors: problemsOf(e) })
            }))
          )
        )
      } else {
        const rows = entries.map(e =>
          e.service !== undefined
            ? [
                e.name,
                e.service.app_name,
                e.service.instance_name,
                e.service.disable ? 'disabled' : 'enabled',
                runningCell(running.get(e.name)),
                ...(fleet !== undefined ? [placed(e.name)?.join(',') || '-'] : []),
                ...columns.map(c => e.service!.config[c] ?? '')
              ]
            : [
                e.name,
                '',
                '',
                'INVALID',
                runningCell(running.get(e.name)),
                ...(fleet !== undefined ? [placed(e.name)?.join(',') || '-'] : []),
                ...columns.map(() => '')
              ]
        )
        const fleetColumn = fleet !== undefined ? ['FLEET HOSTS'] : []
        ctx.io.out(renderTable(['NAME', 'APP', 'INSTANCE', 'STATE', 'RUNNING', ...fleetColumn, ...columns], rows))
        for (const e of entries) if (e.error !== undefined) ctx.io.err(`conductor: ${e.error.message}\n`)
      }
      if (entries.some(e => e.error !== undefined)) throw new Reported('CND_SERVICE_INVALID')
    })

  registerServiceLifecycle(service, makeCtx)

  service
    .command('env')
    .description('Print the variables templates, hooks and commands of the service see')
    .argument('<name>', 'service name')
    .option('--json', 'print JSON')
    .action(async function (this: Command, name: string, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const vars = serviceVariables(await ctxService(ctx, name), baseVariables(ctx.roots, ctx.env))
      ctx.io.out(opts.json === true ? renderJson(vars) : renderEnv(vars))
    })

  service
    .command('show')
    .description('Print the resolved service (inheritance applied, every path absolute)')
    .argument('<name>', 'service name')
    .option('--json', 'print JSON with the seed field names')
    .action(async function (this: Command, name: string, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const svc = await ctxService(ctx, name)
      ctx.io.out(opts.json === true ? renderJson(svc) : renderShow(svc))
    })

  service
    .command('check')
    .description('Validate services (all, or those named); print every problem; exit 3 if any')
    .argument('[names...]', 'service names (default: all)')
    .option('--json', 'print JSON')
    .action(async function (this: Command, names: string[], opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      let entries = await ctxServices(ctx)
      if (names.length > 0) {
        for (const n of names) await loadServiceOrEntry(ctx, entries, n)
        entries = entries.filter(e => names.includes(e.name))
      }
      const problems = entries.flatMap(e => problemsOf(e))
      if (opts.json === true) {
        ctx.io.out(
          renderJson({
            services: entries.length,
            valid: entries.filter(e => e.service !== undefined).map(e => e.name),
            problems
          })
        )
      } else {
        for (const p of problems) ctx.io.out(`${formatProblem(p)}\n`)
        const bad = entries.filter(e => e.error !== undefined).length
        ctx.io.err(`${entries.length} service(s) checked, ${bad} invalid, ${problems.length} problem(s)\n`)
      }
      if (problems.length > 0) throw new Reported('CND_SERVICE_INVALID')
    })
}

async function loadServiceOrEntry(ctx: Ctx, entries: ServiceEntry[], name: string): Promise<void> {
  // A name that is not in the listing gets its own not-found error.
  if (!entries.some(e => e.name === name)) await ctxService(ctx, name)
}

function problemsOf(
  e: ServiceEntry
): Array<{ file?: string | undefined; jsonPath?: string | undefined; message: string }> {
  if (e.error === undefined) return []
  return e.error instanceof ServiceInvalid ? e.error.allProblems() : [{ file: e.file, message: e.error.message }]
}

function renderShow(svc: Service): string {
  const lines = [
    `name:      ${svc.name}`,
    `file:      ${svc.file}`,
    ...(svc.files.length > 1 ? [`inherits:  ${svc.files.slice(0, -1).join(', ')}`] : []),
    `app:       ${svc.app_name}`,
    `instance:  ${svc.instance_name}`,
    `disabled:  ${String(svc.disable)}`,
    `unit:      ${serviceUnit(svc.name)}`
  ]
  if (svc.proxy_config_template !== undefined) lines.push(`proxy:     ${svc.proxy_config_template}`)
  for (const [k, v] of Object.entries(svc.config)) lines.push(`config:    ${k}=${v}`)
  for (const p of svc.pods)
    lines.push(
      `pod:       ${p.name === '' ? '(main)' : p.name} ${p.pod_template}${p.config_map_template !== undefined ? ' config-map ' + p.config_map_template : ''}`
    )
  for (const h of svc.hooks) lines.push(`hook:      ${h.id} ${h.when} ${h.exec.join(' ')}`)
  for (const [n, c] of Object.entries(svc.commands))
    lines.push(`command:   ${n} ${c.exec.join(' ')}${c.description !== undefined ? '  # ' + c.description : ''}`)
  for (const f of svc.functions)
    lines.push(`function:  ${f.name === '' ? '(main)' : f.name} ${f.format} ${f.exec.join(' ')}`)
  return lines.join('\n') + '\n'
}

function runningCell(r: { active: boolean; deployments: number } | undefined): string {
  if (r === undefined) return '?'
  return r.active ? `yes (${r.deployments} deployment${r.deployments === 1 ? '' : 's'})` : 'no'
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)]
}

function pick(vars: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter(k => k in vars).map(k => [k, vars[k]!]))
}
