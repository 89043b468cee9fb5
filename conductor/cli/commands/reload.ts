import type { Command } from 'commander'
import { reconcile } from '../../reconcile/index.js'
import { systemContext } from '../../reconcile/index.js'
import { reportOutcome } from './lifecycle.js'
import type { CtxFactory } from './types.js'

export function registerReloadCommand(program: Command, makeCtx: CtxFactory): void {
  program
    .command('reload')
    .description(
      'Reconcile: compare the service directories with systemd units and recorded deployments, print the plan and apply it. Exit 1 if an action failed, 3 if a service does not load'
    )
    .option('--dry-run', 'print the plan only')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { dryRun?: boolean; json?: boolean }) {
      const sctx = await systemContext(makeCtx(this))
      const outcome = await reconcile(sctx, { dryRun: opts.dryRun === true })
      await reportOutcome(sctx, outcome, opts.json)
    })
}
