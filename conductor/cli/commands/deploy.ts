import type { Command } from 'commander'
import { ctxService, positiveNumber, type Ctx } from '../../context.js'
import { DEPLOY_STEPS } from '../../deploy/index.js'
import { readHistory, deployService, type DeployRequest, type PartOutcome } from '../../deploy/index.js'
import { ConductorError, UsageError } from '../../../errors/index.js'
import { renderJson } from '../../output.js'
import { systemContext } from '../../reconcile/index.js'
import { parseSets } from './deployment.js'
import type { CtxFactory } from './types.js'

export function registerDeployCommands(program: Command, makeCtx: CtxFactory): void {
  program
    .command('deploy')
    .description(
      'Zero-downtime deploy: start a new deployment beside the old one, wait until ready, switch Caddy, drain, stop the old one'
    )
    .argument('<service>', 'service name')
    .option(
      '--set <KEY=VALUE>',
      "deployment config on top of the current deployment's (repeatable)",
      (v: string, p: string[]) => [...p, v],
      []
    )
    .option('--part <name>', 'only this pod part (default: every part, one after the other)')
    .option(
      '--drain-timeout <sec>',
      "longest wait for requests in flight to the old deployment (default: the part's drain_timeout_sec, else 30)"
    )
    .option('--json', 'print the outcome as JSON')
    .action(async function (
      this: Command,
      name: string,
      opts: { set: string[]; part?: string; drainTimeout?: string; json?: boolean }
    ) {
      const ctx = makeCtx(this)
      await runAndReport(
        ctx,
        name,
        {
          config: parseSets(opts.set),
          part: opts.part,
          drainTimeoutSec:
            opts.drainTimeout === undefined ? undefined : positiveNumber(opts.drainTimeout, '--drain-timeout')
        },
        opts.json === true
      )
    })

  // `deployment rollback` lives with the other deployment commands (registered before this).
  const rollbackParent = program.commands.find(c => c.name() === 'deployment')
  if (rollbackParent === undefined) return
  rollbackParent
    .command('rollback')
    .description('Deploy the previous deployment config of SERVICE again, the same zero-downtime way')
    .argument('<service>', 'service name')
    .option('--part <name>', 'pod part (default: every part that has a previous deploy)')
    .option('--json', 'print the outcome as JSON')
    .action(async function (this: Command, name: string, opts: { part?: string; json?: boolean }) {
      const ctx = makeCtx(this)
      const history = readHistory(await systemContext(ctx), name)
      const parts = Object.entries(history.parts).filter(
        ([p, h]) => (opts.part === undefined || p === opts.part) && h.length >= 2
      )
      if (parts.length === 0)
        throw new UsageError(`no previous deploy of "${name}" to go back to (conductor deploy records one per run)`)
      for (const [part, h] of parts)
        await runAndReport(ctx, name, { config: h[h.length - 2]!.config, exact: true, part }, opts.json === true)
    })
}

async function runAndReport(ctx: Ctx, name: string, req: DeployRequest, json: boolean): Promise<void> {
  const svc = await ctxService(ctx, name)
  if (svc.pods.length === 0) throw new UsageError(`service "${name}" has no pods: nothing to deploy`)
  if (req.part !== undefined && !svc.pods.some(p => p.name === req.part))
    throw new UsageError(`service "${name}" has no pod part "${req.part}"`)
  const sctx = await systemContext(ctx)
  const started = performance.now()
  let outcome: PartOutcome[]
  try {
    outcome = await deployService(sctx, svc, {
      ...req,
      beforeStep: pauseHook(ctx),
      onStep: (part, s) => {
        if (!json)
          ctx.io.err(
            `✓ ${part === '' ? '' : part + ': '}${s.name} (${Math.round(s.ms)} ms)${s.detail !== undefined ? ' — ' + s.detail : ''}\n`
          )
      }
    })
  } catch (err) {
    if (err instanceof ConductorError && !json)
      ctx.io.err(`✗ deploy of ${name} failed after ${Math.round(performance.now() - started)} ms\n`)
    throw err
  }
  if (json) {
    ctx.io.out(
      renderJson(
        outcome.map(o => ({
          part: o.part,
          deployed: o.outcome.deployed.id,
          ...(o.outcome.replicas.length > 1 ? { replicas: o.outcome.replicas.map(d => d.id) } : {}),
          stopped: o.outcome.stopped.map(s => s.id),
          drained: o.outcome.drained,
          config: o.config,
          steps: o.outcome.steps
        }))
      )
    )
  } else {
    for (const o of outcome)
      ctx.io.out(
        `deployed ${o.outcome.replicas.map(d => d.id).join(', ')}${o.outcome.stopped.length > 0 ? ` (replaced ${o.outcome.stopped.map(s => s.id).join(', ')})` : ''} in ${Math.round(performance.now() - started)} ms\n`
      )
  }
}

/**
 * CONDUCTOR_DEPLOY_PAUSE_AT=STEP (start, ready, switch, drain, stop): a debugging
 * and fault-testing aid. The deploy stops just before that step, says so on stderr with its
 * pid, and waits CONDUCTOR_DEPLOY_PAUSE_SEC (default 600) before going on, so that a test (or an
 * operator rehearsing a crash) can kill -9 it there and check that `conductor reload` converges.
 */
function pauseHook(ctx: Ctx): ((name: string) => Promise<void>) | undefined {
  const at = ctx.env.CONDUCTOR_DEPLOY_PAUSE_AT
  if (at === undefined || at === '') return undefined
  const name = (DEPLOY_STEPS as Record<string, string>)[at]
  if (name === undefined)
    throw new UsageError(`CONDUCTOR_DEPLOY_PAUSE_AT=${at}: expected one of ${Object.keys(DEPLOY_STEPS).join(', ')}`)
  const seconds = Number(ctx.env.CONDUCTOR_DEPLOY_PAUSE_SEC ?? '600')
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new UsageError(
      `CONDUCTOR_DEPLOY_PAUSE_SEC=${ctx.env.CONDUCTOR_DEPLOY_PAUSE_SEC ?? ''}: expected a number of seconds`
    )
  return async step => {
    if (step !== name) return
    ctx.io.err(
      `conductor: CONDUCTOR_DEPLOY_PAUSE_AT=${at}: paused before "${name}" (pid ${process.pid}) for ${seconds} s\n`
    )
    await new Promise(resolve => setTimeout(resolve, seconds * 1000))
  }
}
