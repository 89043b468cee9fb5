import type { Command } from 'commander'
import { ctxServices } from '../context.js'
import { gatewayCheck, podmanCheck, runChecks, systemdCheck, type Check } from '../doctor.js'
import { EXIT, UsageError } from '../errors.js'
import { renderJson } from '../output.js'
import type { CtxFactory } from './types.js'

export function registerDoctorCommand (program: Command, makeCtx: CtxFactory): void {
  program.command('doctor')
    .description('Check this host: Podman, systemd, the gateway, service files; a fix for every failure (exit 1 if any)')
    .option('--scope <scope>', 'systemd scope to check: system | user', 'system')
    .option('--gateway <addr>', 'gateway listen address', '127.0.0.1:2080')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { scope: string, gateway: string, json?: boolean }) {
      const ctx = makeCtx(this)
      if (opts.scope !== 'system' && opts.scope !== 'user') throw new UsageError(`--scope ${opts.scope}: expected system or user`)
      const env = Object.fromEntries(Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined))
      const services: Check = async function services () {
        const entries = await ctxServices(ctx)
        const bad = entries.filter(e => e.error !== undefined)
        return bad.length === 0
          ? { name: 'service files', ok: true, detail: `${entries.length} service(s) valid in ${ctx.roots.services}` }
          : { name: 'service files', ok: false, detail: bad.map(e => e.error!.message).join('\n'), fix: 'fix the files named above (conductor service check lists every problem)' }
      }
      const results = await runChecks([podmanCheck(env), systemdCheck(opts.scope, env), gatewayCheck(opts.gateway), services])
      if (opts.json === true) ctx.io.out(renderJson({ ok: results.every(r => r.ok), checks: results }))
      else {
        for (const r of results) {
          ctx.io.out(`${r.ok ? '✓' : '✗'} ${r.name}: ${r.detail.replace(/\n/g, '\n    ')}\n`)
          if (!r.ok && r.fix !== undefined) ctx.io.out(`    fix: ${r.fix}\n`)
        }
      }
      if (results.some(r => !r.ok)) process.exitCode = EXIT.failure
    })
}
