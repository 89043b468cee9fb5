import type { Command } from 'commander'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { UsageError } from '../../../errors/index.js'
import { renderEnv, renderJson } from '../../output.js'
import type { Pod, Service } from '../../model/index.js'
import { ctxService } from '../../context.js'
import { portVariables } from '../../host/index.js'
import { findPod, templateFile } from '../../model/index.js'
import { runTemplate } from '../../process/index.js'
import { deploymentId, newDeploymentSuffix } from '../../model/index.js'
import { baseVariables, deploymentVariables, serviceVariables, type Variables } from '../../model/index.js'
import type { Ctx } from '../../context.js'
import type { CtxFactory } from './types.js'
import { readDeployment } from '../../state/index.js'
import { deploymentVars } from '../../reconcile/index.js'
import { systemContext } from '../../reconcile/index.js'
import { registerDeploymentLifecycle } from './lifecycle.js'
import { registerConfigUnitCommands } from './config-units.js'

interface SimOptions {
  part?: string
  podIp?: string
  id?: string
  set?: string[]
  port?: string[]
  json?: boolean
}

export function registerDeploymentCommands(program: Command, internal: Command, makeCtx: CtxFactory): void {
  const deployment = program
    .command('deployment')
    .description('Deployments (one pod part of a service): list, start, stop, inspect')
  registerDeploymentLifecycle(deployment, makeCtx)
  simulationOptions(
    deployment
      .command('env')
      .description(
        'Print the variables a deployment sees: of a recorded deployment ID, or simulated for a deployment of SERVICE (--pod-ip, --id, --set)'
      )
      .argument('<id-or-service>', 'recorded deployment id, or a service name to simulate one')
  )
    .option('--json', 'print JSON')
    .action(async function (this: Command, name: string, opts: SimOptions) {
      const ctx = makeCtx(this)
      const rec = readDeployment(ctx.roots.deployments, name)
      if (rec !== undefined) {
        const sctx = await systemContext(ctx)
        const recVars = deploymentVars(sctx, await ctxService(ctx, rec.service), rec)
        ctx.io.out(opts.json === true ? renderJson(recVars) : renderEnv(recVars))
        return
      }
      const { vars } = simulateDeployment(ctx, await ctxService(ctx, name), opts)
      ctx.io.out(opts.json === true ? renderJson(vars) : renderEnv(vars))
    })

  const svcInternal = internal.command('service').description('Service internals')
  svcInternal
    .command('template')
    .description(
      'Run a template of SERVICE in the service context and print its output (KIND: pod, config-map, proxy, or a path)'
    )
    .argument('<service>', 'service name')
    .argument('<kind>', 'pod | config-map | proxy | PATH (relative: to the service directory)')
    .option('--part <name>', 'pod part (for pod and config-map)')
    .action(async function (this: Command, name: string, kind: string, opts: SimOptions) {
      const ctx = makeCtx(this)
      const svc = await ctxService(ctx, name)
      const pod = kind === 'pod' || kind === 'config-map' ? findPod(svc, opts.part) : undefined
      const file = templateFile(svc, kind, pod)
      ctx.io.out(
        await runTemplate({
          file,
          cwd: svc.dir,
          vars: serviceVariables(svc, baseVariables(ctx.roots, ctx.env)),
          timeoutSec: timeoutOf(ctx, svc)
        })
      )
    })

  const deplInternal = internal.command('deployment').description('Deployment internals')
  simulationOptions(
    deplInternal
      .command('template')
      .description(
        'Run a template of SERVICE in a (simulated) deployment context and print its output (KIND: pod, config-map, proxy, or a path)'
      )
      .argument('<service>', 'service name')
      .argument('<kind>', 'pod | config-map | proxy | PATH (relative: to the service directory)')
  ).action(async function (this: Command, name: string, kind: string, opts: SimOptions) {
    const ctx = makeCtx(this)
    const svc = await ctxService(ctx, name)
    const { pod, vars } = simulateDeployment(ctx, svc, opts)
    const file = templateFile(svc, kind, pod)
    // A simulated deployment has no directory yet: run in a scratch one, removed after.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'conductor-deployment-'))
    try {
      ctx.io.out(await runTemplate({ file, cwd: dir, vars, timeoutSec: timeoutOf(ctx, svc) }))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  registerConfigUnitCommands(svcInternal, deplInternal, makeCtx)
}

function simulationOptions(cmd: Command): Command {
  return cmd
    .option('--part <name>', 'pod part (required when the service has several)')
    .option('--pod-ip <ip>', 'POD_IP_ADDRESS to simulate (default: empty, as before the pod runs)')
    .option('--id <id>', 'deployment id to simulate (default: a new one)')
    .option('--set <KEY=VALUE>', 'deployment config on top of the service config (repeatable)', collect, [])
    .option(
      '--port <NAME=PORT>',
      'host port to simulate for a declared pod port (repeatable; default: 0 for each)',
      collect,
      []
    )
}

export function simulateDeployment(ctx: Ctx, svc: Service, opts: SimOptions): { pod: Pod; vars: Variables } {
  const pod = findPod(svc, opts.part)
  const id = opts.id ?? deploymentId(svc.name, pod.name, newDeploymentSuffix())
  // Ports are allocated when a deployment is created; a simulation takes them from --port.
  const given = parseSets(opts.port ?? [], '--port')
  const ports = Object.fromEntries((pod.ports ?? []).map(n => [n, Number(given[n] ?? 0)]))
  const vars = deploymentVariables(
    svc,
    pod,
    { id, podIp: opts.podIp, config: parseSets(opts.set ?? []), extra: portVariables(pod.ports ?? [], ports) },
    baseVariables(ctx.roots, ctx.env)
  )
  return { pod, vars }
}

export function parseSets(sets: string[], flag = '--set'): Record<string, string> {
  const out: Record<string, string> = {}
  for (const s of sets) {
    const eq = s.indexOf('=')
    const key = eq > 0 ? s.slice(0, eq) : ''
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || key.startsWith('CONDUCTOR_')) {
      throw new UsageError(`${flag} "${s}": expected KEY=VALUE with KEY a variable name not starting with CONDUCTOR_`)
    }
    out[key] = s.slice(eq + 1)
  }
  return out
}

function timeoutOf(ctx: Ctx, svc: Service): number | undefined {
  return ctx.templateTimeoutSec ?? svc.template_timeout_sec
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}
