import type { Command } from 'commander'
import { systemContext } from '../../reconcile/index.js'
import type { CtxFactory } from './types.js'

// `conductor _ service|deployment attach|detach NAME`: what the config units
// (conductor-service-config@, conductor-deployment-config@) run when systemd starts or stops
// their main unit on its own. Internal: Conductor's commands do this work themselves.

export function registerConfigUnitCommands(svcInternal: Command, deplInternal: Command, makeCtx: CtxFactory): void {
  const verbs = [
    ['attach', "post-start hooks and Caddy snippets (the config unit's start)"],
    ['detach', "stop hooks and Caddy snippets removed (the config unit's stop)"]
  ] as const
  for (const [verb, what] of verbs) {
    svcInternal
      .command(verb)
      .description(`Service ${what}`)
      .argument('<service>', 'service name')
      .action(async function (this: Command, name: string) {
        const m = await import('../../attach/index.js')
        const sctx = await systemContext(makeCtx(this))
        report(sctx.io.out, await (verb === 'attach' ? m.attachService : m.detachService)(sctx, name))
      })
    deplInternal
      .command(verb)
      .description(`Deployment ${what}${verb === 'attach' ? ', once it is ready' : ''}`)
      .argument('<id>', 'deployment id')
      .action(async function (this: Command, id: string) {
        const m = await import('../../attach/index.js')
        const sctx = await systemContext(makeCtx(this))
        report(sctx.io.out, await (verb === 'attach' ? m.attachDeployment : m.detachDeployment)(sctx, id))
      })
  }
}

function report(out: (s: string) => void, outcome: { lines: string[]; error?: unknown }): void {
  for (const l of outcome.lines) out(`${l}\n`)
  if (outcome.error !== undefined) throw outcome.error
}
