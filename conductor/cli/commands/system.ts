import type { Command } from 'commander'
import { applyInstall, caddyConfigPath } from '../../host/index.js'
import { renderJson } from '../../output.js'
import { hostInstallPlan, systemContext, unitPaths } from '../../reconcile/index.js'
import { caddyAutosavePath, type UnitPaths } from '../../host/index.js'
import type { CtxFactory } from './types.js'
import { readOr } from '../../state/index.js'
import { installCluster } from '../../cluster/index.js'

export function registerSystemCommands(program: Command, makeCtx: CtxFactory): void {
  const system = program.command('system').description('Host setup: systemd units, directories')
  system
    .command('install')
    .description(
      'Install the template units (conductor-service@, conductor-deployment@), conductor-gateway.service, ' +
        'a default caddy.service if none exists (with a caddy.json declaring the HTTP server "conductor-server" on ' +
        "host.json caddy_listen), the cluster's conductor-nats.service and conductor-sync.service, the built-in " +
        "service of the peer functions, the host directories, and this host's peer identity (key pair, route " +
        'certificate, NATS config) if absent. Idempotent; one daemon-reload at most'
    )
    .option('--dry-run', 'print the files that would be written, write nothing')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { dryRun?: boolean; json?: boolean }) {
      const sctx = await systemContext(makeCtx(this))
      const paths = unitPaths(sctx)
      const plan = hostInstallPlan(sctx, paths)
      if (opts.dryRun === true) {
        if (opts.json === true) sctx.io.out(renderJson({ scope: sctx.scope.scope, dirs: plan.dirs, files: plan.files }))
        else {
          sctx.io.out(`# scope ${sctx.scope.scope}: would create directories ${plan.dirs.join(', ')}\n`)
          for (const f of plan.files) sctx.io.out(`# ${f.path} (${f.why})\n${f.content}\n`)
        }
        return
      }
      const caddyJson = caddyConfigPath(sctx.roots)
      const before = readOr(caddyJson)
      const result = await applyInstall(plan, sctx.drivers.systemd)
      // The peer identity (issue 17 item 1): created once, kept across installs.
      result.written.push(...(await installCluster(sctx.roots, sctx.hostConfig, sctx.env)))
      const systemctl = `systemctl${sctx.scope.scope === 'user' ? ' --user' : ''}`
      const rootFlag = sctx.roots.root !== '/' ? ` --root ${sctx.roots.root}` : ''
      const notes =
        before !== undefined && result.written.includes(caddyJson)
          ? [caddyJsonNote(caddyJson, before, paths, systemctl, rootFlag)]
          : []
      if (opts.json === true) sctx.io.out(renderJson({ scope: sctx.scope.scope, ...result, notes }))
      else {
        for (const f of result.written) sctx.io.out(`wrote ${f}\n`)
        if (result.written.length === 0) sctx.io.out('units up to date, nothing written\n')
        if (result.reloaded) sctx.io.out(`${systemctl} daemon-reload done\n`)
        for (const n of notes) sctx.io.out(`note: ${n}\n`)
      }
    })
}

/**
 * caddy.json was rewritten (host.json caddy_listen or caddy_admin changed). caddy.service starts
 * Caddy with --resume: the config it autosaved wins over caddy.json at every start, so the new
 * file must be loaded on purpose. `caddy reload` reaches Caddy at the admin address of the file
 * it loads, so a changed admin address needs a start from caddy.json instead (the sync unit
 * then registers the routes again).
 */
function caddyJsonNote(file: string, before: string, p: UnitPaths, systemctl: string, rootFlag: string): string {
  let oldAdmin: unknown
  try {
    oldAdmin = (JSON.parse(before) as { admin?: { listen?: unknown } }).admin?.listen
  } catch {
    /* treated as changed */
  }
  const keeps = `${file} changed; a running Caddy keeps its config (also across restarts, --resume)`
  if (oldAdmin !== p.caddyAdmin) {
    return (
      `${keeps}, and its admin address changed: start it from caddy.json with ` +
      `rm -f ${caddyAutosavePath(p.libDir)} && ${systemctl} restart caddy.service ` +
      '(conductor-caddy-sync registers the routes again)'
    )
  }
  return `${keeps}: load it with ${systemctl} reload caddy.service && conductor caddy sync${rootFlag}`
}
