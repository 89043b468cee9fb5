import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { DEFAULT_LISTEN } from '../../gateway/defaults.js'
import { resolveCaddyAdmin } from '../caddy-endpoint.js'
import { ctxServices } from '../context.js'
import { gatewayCheck, migrateReqCheck, podmanCheck, runChecks, systemdCheck, type Check } from '../doctor.js'
import { caddyCheck } from '../doctor-caddy.js'
import { policiesCheck, unitsCheck } from '../doctor-install.js'
import { EXIT } from '../errors.js'
import { loadHostConfig, type HostConfig } from '../host-schema.js'
import { caddyUnitExists, planInstall } from '../install.js'
import { renderJson } from '../output.js'
import { systemContext, unitPaths } from '../system-context.js'
import type { CtxFactory } from './types.js'

export function registerDoctorCommand (program: Command, makeCtx: CtxFactory): void {
  program.command('doctor')
    .description('Check this host: Podman, the kernel setting deploys need, systemd, installed units, Caddy, the gateway, service and policy files; a fix for every failure (exit 1 if any)')
    .option('--scope <scope>', 'systemd scope to check: system | user (default: --scope, CONDUCTOR_SCOPE, host.json "scope", else system)')
    .option('--gateway <addr>', `gateway listen address (default: host.json gateway_listen, else ${DEFAULT_LISTEN})`)
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { scope?: string, gateway?: string, json?: boolean }) {
      const base = makeCtx(this)
      const ctx = { ...base, scopeFlag: opts.scope ?? base.scopeFlag }
      const env = Object.fromEntries(Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined))
      const checks: Check[] = [podmanCheck(env), migrateReqCheck()]
      // host.json decides the scope, the Caddy endpoint and the gateway address: when it is
      // broken, say so once and run the checks that do not need it.
      let host: HostConfig | undefined
      try { host = loadHostConfig(ctx.roots.hostFile) } catch (err) {
        const message = (err as Error).message
        checks.push(async function hostFile () { return { name: 'host.json', ok: false, detail: message, fix: `fix ${ctx.roots.hostFile} (fields: hostname, resources, gateway_listen, caddy_admin, scope); the checks that depend on it were skipped` } })
      }
      if (host !== undefined) {
        const sctx = systemContext(ctx)
        const scope = sctx.scope.scope
        checks.push(systemdCheck(scope, env))
        const plan = planInstall(unitPaths(sctx), sctx.scope, sctx.roots, caddyUnitExists(sctx.scope), existsSync(path.join(sctx.roots.etc, 'caddy.json')))
        checks.push(unitsCheck(plan, `conductor system install --scope ${scope}${ctx.roots.root !== '/' ? ` --root ${ctx.roots.root}` : ''}`))
        const admin = resolveCaddyAdmin(ctx)
        checks.push(caddyCheck({ adminUrl: admin.url, source: admin.source, env }))
        checks.push(gatewayCheck(opts.gateway ?? host.gateway_listen ?? DEFAULT_LISTEN))
      }
      checks.push(async function services () {
        const entries = await ctxServices(ctx)
        const bad = entries.filter(e => e.error !== undefined)
        return bad.length === 0
          ? { name: 'service files', ok: true, detail: `${entries.length} service(s) valid in ${ctx.roots.services}` }
          : { name: 'service files', ok: false, detail: bad.map(e => e.error!.message).join('\n'), fix: 'fix the files named above (conductor service check lists every problem)' }
      })
      // The gateway's address also tells the policies check which policies it serves from a last good version.
      checks.push(policiesCheck(ctx.roots.policies, opts.gateway ?? host?.gateway_listen ?? DEFAULT_LISTEN))
      const results = await runChecks(checks)
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
