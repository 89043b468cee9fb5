import path from 'node:path'
import type { Command } from 'commander'
import { DEFAULT_GATEWAY_LISTEN } from '../../model/index.js'
import { resolveCaddyAdmin } from '../../proxy/index.js'
import { ctxServices } from '../../context.js'
import { gatewayCheck, migrateReqCheck, podmanCheck, runChecks, systemdCheck, type Check } from '../../doctor/index.js'
import { CONDUCTOR_SERVER_KEY, conductorServer } from '../../host/index.js'
import { caddyCheck, type ServerExpectation } from '../../doctor/index.js'
import { policiesCheck, unitsCheck } from '../../doctor/index.js'
import { Reported } from '../exit.js'
import { loadModelSchemas, type HostConfig } from '../../model/index.js'
import { caddyConfigPath, type InstallPlan } from '../../host/index.js'
import { renderJson } from '../../output.js'
import { hostInstallPlan, systemContext, unitPaths, type SystemCtx } from '../../reconcile/index.js'
import type { CtxFactory } from './types.js'
import { checkNats, clusterContext } from '../../cluster/index.js'
import { SYNC_STATUS_FILE, checkSync } from '../../fleet/index.js'

export function registerDoctorCommand(program: Command, makeCtx: CtxFactory): void {
  program
    .command('doctor')
    .description(
      'Check this host: Podman, the kernel setting deploys need, systemd, installed units, Caddy, the gateway, service and policy files; a fix for every failure (exit 1 if any)'
    )
    .option(
      '--scope <scope>',
      'systemd scope to check: system | user (default: --scope, CONDUCTOR_SCOPE, host.json "scope", else system)'
    )
    .option(
      '--gateway <addr>',
      `gateway listen address (default: host.json gateway_listen, else ${DEFAULT_GATEWAY_LISTEN})`
    )
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { scope?: string; gateway?: string; json?: boolean }) {
      const base = makeCtx(this)
      const ctx = { ...base, scopeFlag: opts.scope ?? base.scopeFlag }
      const env = Object.fromEntries(Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined))
      const checks: Check[] = [podmanCheck(env), migrateReqCheck()]
      // host.json decides the scope, the Caddy endpoint and the gateway address: when it is
      // broken, say so once and run the checks that do not need it.
      let host: HostConfig | undefined
      try {
        host = await ctx.host()
      } catch (err) {
        const message = (err as Error).message
        const fields = (await loadModelSchemas()).hostFieldNames().join(', ')
        const fix = `fix ${ctx.roots.hostFile} (fields: ${fields}); the checks that depend on it were skipped`
        checks.push(async function hostFile() {
          return { name: 'host.json', ok: false, detail: message, fix }
        })
      }
      if (host !== undefined) {
        const sctx = await systemContext(ctx)
        const scope = sctx.scope.scope
        checks.push(systemdCheck(scope, env))
        const paths = unitPaths(sctx)
        const plan = hostInstallPlan(sctx, paths)
        const rootFlag = ctx.roots.root !== '/' ? ` --root ${ctx.roots.root}` : ''
        checks.push(unitsCheck(plan, `conductor system install --scope ${scope}${rootFlag}`))
        const admin = resolveCaddyAdmin(ctx, await ctx.host())
        const server = serverExpectation(sctx, plan, paths.caddyListen, rootFlag)
        checks.push(caddyCheck({ adminUrl: admin.url, source: admin.source, env, server }))
        checks.push(gatewayCheck(opts.gateway ?? host.gateway_listen ?? DEFAULT_GATEWAY_LISTEN))
        // The cluster's NATS server (issue 17): running, JetStream on, a route to every peer.
        checks.push(async function nats() {
          const systemctl = `systemctl${scope === 'user' ? ' --user' : ''}`
          try {
            return await checkNats(await clusterContext(ctx), systemctl)
          } catch (err) {
            return {
              name: 'nats',
              ok: false,
              detail: (err as Error).message,
              fix: `conductor system install --scope ${scope}${rootFlag}`
            }
          }
        })
        // Service sync (issue 18): the sync task writes its status every second; lag behind the bucket.
        checks.push(async function fleetSync() {
          return checkSync(path.join(ctx.roots.run, SYNC_STATUS_FILE), `systemctl${scope === 'user' ? ' --user' : ''}`)
        })
      }
      checks.push(async function services() {
        const entries = await ctxServices(ctx)
        const bad = entries.filter(e => e.error !== undefined)
        return bad.length === 0
          ? { name: 'service files', ok: true, detail: `${entries.length} service(s) valid in ${ctx.roots.services}` }
          : {
              name: 'service files',
              ok: false,
              detail: bad.map(e => e.error!.message).join('\n'),
              fix: 'fix the files named above (conductor service check lists every problem)'
            }
      })
      // The gateway's address also tells the policies check which policies it serves from a last good version.
      checks.push(policiesCheck(ctx.roots.policies, opts.gateway ?? host?.gateway_listen ?? DEFAULT_GATEWAY_LISTEN))
      const results = await runChecks(checks)
      if (opts.json === true) ctx.io.out(renderJson({ ok: results.every(r => r.ok), checks: results }))
      else {
        for (const r of results) {
          ctx.io.out(`${r.ok ? '✓' : '✗'} ${r.name}: ${r.detail.replace(/\n/g, '\n    ')}\n`)
          if (!r.ok && r.fix !== undefined) ctx.io.out(`    fix: ${r.fix}\n`)
        }
      }
      if (results.some(r => !r.ok)) throw new Reported('CND_DOCTOR_FAILED')
    })
}

/**
 * What `doctor` expects of Caddy's "conductor-server" and how to fix it. When Conductor writes
 * caddy.json (its own caddy.service), the running server must listen where host.json says, and
 * the fix loads caddy.json: the unit starts Caddy with --resume, so the config Caddy autosaved
 * wins over caddy.json at every start; `systemctl reload caddy.service` runs `caddy reload
 * --config caddy.json`, which has no routes, and `conductor caddy sync` registers them again.
 * Otherwise Caddy's config is the operator's: say what to declare in it.
 */
function serverExpectation(
  sctx: SystemCtx,
  plan: InstallPlan,
  listen: readonly string[],
  rootFlag: string
): ServerExpectation {
  const file = caddyConfigPath(sctx.roots)
  const systemctl = `systemctl${sctx.scope.scope === 'user' ? ' --user' : ''}`
  const load = `${systemctl} reload caddy.service && conductor caddy sync${rootFlag}`
  const install = `conductor system install --scope ${sctx.scope.scope}${rootFlag}`
  if (plan.files.some(f => f.path === file)) {
    return {
      listen,
      missingFix:
        `${install} (its ${file} declares the server), then load that file: ${load} ` +
        '(Caddy runs with --resume: a config it autosaved before the server existed wins over caddy.json)',
      listenFix:
        `${install} (rewrites ${file} with host.json caddy_listen), then load it: ${load} ` +
        '(with --resume Caddy keeps the listen addresses it autosaved, also across restarts)'
    }
  }
  const server = JSON.stringify({ [CONDUCTOR_SERVER_KEY]: conductorServer(listen) })
  return {
    missingFix:
      `declare it in the config your Caddy loads (a caddy.service or a ${file} that Conductor did not ` +
      `write, so it left them alone): "apps": {"http": {"servers": ${server}}}; a Caddyfile cannot set "@id": ` +
      'convert it with `caddy adapt` and load the JSON',
    listenFix: ''
  }
}
