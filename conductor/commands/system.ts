import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { applyInstall, caddyUnitExists, planInstall } from '../install.js'
import { renderJson } from '../output.js'
import { systemContext, unitPaths } from '../system-context.js'
import type { CtxFactory } from './types.js'

export function registerSystemCommands (program: Command, makeCtx: CtxFactory): void {
  const system = program.command('system').description('Host setup: systemd units, directories')
  system.command('install')
    .description('Install the template units (conductor-service@, conductor-deployment@), conductor-gateway.service, a default caddy.service if none exists, and the host directories. Idempotent; one daemon-reload at most')
    .option('--dry-run', 'print the files that would be written, write nothing')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { dryRun?: boolean, json?: boolean }) {
      const sctx = systemContext(makeCtx(this))
      const paths = unitPaths(sctx)
      const plan = planInstall(paths, sctx.scope, sctx.roots, caddyUnitExists(sctx.scope), existsSync(path.join(sctx.roots.etc, 'caddy.json')))
      if (opts.dryRun === true) {
        if (opts.json === true) sctx.io.out(renderJson({ scope: sctx.scope.scope, dirs: plan.dirs, files: plan.files }))
        else {
          sctx.io.out(`# scope ${sctx.scope.scope}: would create directories ${plan.dirs.join(', ')}\n`)
          for (const f of plan.files) sctx.io.out(`# ${f.path} (${f.why})\n${f.content}\n`)
        }
        return
      }
      const result = await applyInstall(plan, sctx.drivers.systemd)
      if (opts.json === true) sctx.io.out(renderJson({ scope: sctx.scope.scope, ...result }))
      else {
        for (const f of result.written) sctx.io.out(`wrote ${f}\n`)
        if (result.written.length === 0) sctx.io.out('units up to date, nothing written\n')
        if (result.reloaded) sctx.io.out(`systemctl${sctx.scope.scope === 'user' ? ' --user' : ''} daemon-reload done\n`)
      }
    })
}
