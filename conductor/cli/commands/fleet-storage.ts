import path from 'node:path'
import type { Command } from 'commander'
import { clusterContext, type ClusterCtx } from '../../cluster/index.js'
import { rollbackServiceVersion } from '../../archive/index.js'
import {
  SYNC_STATUS_FILE,
  checkSync,
  listFleet,
  pushDir,
  removeService,
  rollbackRecord,
  withStore,
  type FleetListing
} from '../../fleet/index.js'
import { ConductorError } from '../../../errors/index.js'
import { allPlacements, withScheduler } from '../../scheduler/index.js'
import { renderJson, renderTable } from '../../output.js'
import { Reported } from '../exit.js'
import type { CtxFactory } from './types.js'

// `conductor fleet push/ls/rm/rollback/status` (issue 18, README "Fleet: service sync"): the
// service directories every host's sync daemon follows, stored in the cluster's JetStream.

export function registerFleetSyncCommands(fleet: Command, makeCtx: CtxFactory): void {
  const cctx = async (cmd: Command): Promise<ClusterCtx> => await clusterContext(makeCtx(cmd))

  fleet
    .command('push')
    .description(
      "Store service directories in the fleet's bucket (each named after its directory): every host " +
        'unpacks them, the hosts of fleet.hosts (default: this one) run them. The version already stored: nothing ' +
        'is done. Exit 3 for a directory or service that cannot be used, 8 when a concurrent push won'
    )
    .argument('<dirs...>', 'service directories')
    .option(
      '--set-version <v>',
      "version string (default: the archive's SHA-256); not --version, which every " +
        "command takes for the program's own"
    )
    .option('--json', 'print JSON')
    .action(async function (this: Command, dirs: string[], opts: { setVersion?: string; json?: boolean }) {
      const cc = await cctx(this)
      const io = makeCtx(this).io
      const results: unknown[] = []
      let failed: ConductorError | undefined
      await withStore(cc, async s => {
        for (const dir of dirs) {
          try {
            const r = await pushDir(s, dir, cc.identity.id, opts.setVersion)
            results.push({
              service: r.record.service,
              version: r.record.version,
              digest: r.record.digest,
              changed: r.changed,
              revision: r.revision
            })
            if (opts.json !== true) {
              io.out(
                r.changed
                  ? `pushed ${r.record.service} version ${r.record.version} (${r.record.size} bytes, revision ${r.revision})\n`
                  : `${r.record.service} is already at version ${r.record.version}: nothing pushed\n`
              )
            }
          } catch (err) {
            if (!(err instanceof ConductorError) || dirs.length === 1) throw err
            failed ??= err
            io.err(`conductor: error: ${err.message}\n`)
            results.push({ service: path.basename(path.resolve(dir)), error: err.code, message: err.message })
          }
        }
      })
      if (opts.json === true) io.out(renderJson({ pushed: results }))
      if (failed !== undefined) throw new Reported(failed.code)
    })

  fleet
    .command('ls')
    .alias('list')
    .description(
      "List the fleet's services: version, digest, where the scheduler placed it, which hosts have it unpacked, which run it"
    )
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const cc = await cctx(this)
      const io = makeCtx(this).io
      const listed = (await withStore(cc, async s => await listFleet(s))).services
      // Where the scheduler placed each one (issue 19), beside where it runs.
      const placed = new Map((await withScheduler(cc, async v => await allPlacements(v))).map(w => [w.service, w]))
      const services = listed.map(l => ({
        ...l,
        placed_on: placed.get(l.service)?.hosts.map(h => h.id) ?? [],
        unplaced: placed.get(l.service)?.unplaced?.reason ?? null
      }))
      if (opts.json === true) {
        io.out(renderJson({ services }))
        return
      }
      io.out(
        renderTable(
          ['SERVICE', 'VERSION', 'DIGEST', 'PLACED ON', 'UNPACKED ON', 'RUNNING ON', 'REFUSED ON'],
          services.map(row)
        )
      )
      for (const s of services) if (s.unplaced !== null) io.out(`${s.service}: unplaceable: ${s.unplaced}\n`)
    })

  fleet
    .command('rm')
    .description('Remove a service from the fleet: every host removes its synced directory and stops it')
    .argument('<service>')
    .action(async function (this: Command, service: string) {
      const cc = await cctx(this)
      const r = await withStore(cc, async s => await removeService(s, service))
      makeCtx(this).io.out(`removed ${service} (was version ${r.version}) from the fleet\n`)
    })

  fleet
    .command('rollback')
    .description(
      'Make the previous version of a service current again on every host (--local: on this host only, ' +
        'without NATS: the kept version directory)'
    )
    .argument('<service>')
    .option('--local', "switch this host's directory back only (the fleet's record is unchanged)")
    .action(async function (this: Command, service: string, opts: { local?: boolean }) {
      const ctx = makeCtx(this)
      if (opts.local === true) {
        const r = await rollbackServiceVersion(ctx.roots.services, service)
        ctx.io.out(`${service} rolled back here to version ${r.version} (was ${r.previous})\n`)
        return
      }
      const cc = await cctx(this)
      const r = await withStore(cc, async s => await rollbackRecord(s, service, cc.identity.id))
      ctx.io.out(
        `${service} rolled back to version ${r.record.version} (was ${r.record.previous?.version ?? '?'}), ` +
          `revision ${r.revision}\n`
      )
    })

  fleet
    .command('status')
    .description("This host's sync: the daemon running, its lag behind the bucket, each synced service here")
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const file = path.join(ctx.roots.run, SYNC_STATUS_FILE)
      const check = checkSync(file, 'systemctl')
      let status: unknown
      try {
        status = JSON.parse((await import('node:fs')).readFileSync(file, 'utf8'))
      } catch {
        status = null
      }
      if (opts.json === true) ctx.io.out(renderJson({ ok: check.ok, detail: check.detail, status }))
      else ctx.io.out(`${check.ok ? '✓' : '✗'} ${check.detail}\n`)
      if (!check.ok) throw new Reported('CND_DOCTOR_FAILED')
    })
}

function row(l: FleetListing & { placed_on: string[] }): string[] {
  const refused = Object.keys(l.refused_on)
  return [
    l.service,
    l.version,
    l.digest.slice(0, 12),
    l.placed_on.join(',') || '-',
    l.unpacked_on.join(',') || '-',
    l.running_on.join(',') || '-',
    refused.join(',') || '-'
  ]
}
