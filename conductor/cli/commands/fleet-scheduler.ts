import type { Command } from 'commander'
import { clusterContext, type ClusterCtx } from '../../cluster/index.js'
import { loadService, type Service } from '../../model/index.js'
import { formatRatio, serviceDemand } from '../../placement/index.js'
import { drainHost, explainLive, whereIs, withScheduler, type LiveExplanation } from '../../scheduler/index.js'
import { renderJson, renderTable } from '../../output.js'
import { Reported } from '../exit.js'
import type { CtxFactory } from './types.js'

// `conductor fleet where|explain|drain|undrain` (issue 19, README "Fleet scheduler"): the live
// placements and the capacity ledger the fleet daemons keep in the cluster's JetStream.

export function registerFleetSchedulerCommands(fleet: Command, makeCtx: CtxFactory): void {
  const cctx = async (cmd: Command): Promise<ClusterCtx> => await clusterContext(makeCtx(cmd))

  fleet
    .command('where')
    .description("Where a service's copies run: peer ids, the address of each one's Caddy (https://ADDRESS), alive")
    .argument('<service>')
    .option('--json', 'print JSON')
    .action(async function (this: Command, service: string, opts: { json?: boolean }) {
      const cc = await cctx(this)
      const io = makeCtx(this).io
      const w = await withScheduler(cc, async v => await whereIs(v, service))
      if (opts.json === true) {
        io.out(renderJson(w))
        return
      }
      const rows = w.hosts.map(h => [h.id, `https://${h.address}`, h.alive ? 'yes' : 'NO'])
      io.out(rows.length > 0 ? renderTable(['HOST', 'ADDRESS', 'ALIVE'], rows) : `${service} runs nowhere\n`)
      if (w.unplaced !== null) io.out(`unplaceable: ${w.unplaced.reason}\n`)
      io.err(`placement revision ${w.revision} (${w.source}), ${w.reason}, at ${w.at}\n`)
    })

  fleet
    .command('explain')
    .description(
      "Each machine's B/N/C per unit for a service on the live capacity ledger (its own copies left out), and why " +
        'the rule chooses it or not; dead and drained machines are listed apart'
    )
    .argument('<service>')
    .option('--json', 'print JSON')
    .action(async function (this: Command, service: string, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const cc = await cctx(this)
      let local: Service | undefined
      try {
        local = await loadService(ctx.roots.services, service, ctx.validationCache)
      } catch {
        local = undefined
      }
      const e = await withScheduler(
        cc,
        async v => await explainLive(v, service, local !== undefined ? serviceDemand(local) : undefined)
      )
      ctx.io.out(opts.json === true ? renderJson(e) : renderExplanation(e))
    })

  fleet
    .command('drain')
    .description(
      'Mark a machine drained: no new copies go there, and the fleet daemons place its copies elsewhere ' +
        '(manual placements stay); waits for them to move. Exit 1 if some could not move in time'
    )
    .argument('<host>', 'peer id')
    .option('--wait <sec>', 'how long to wait for the copies to move', '30')
    .option('--json', 'print JSON')
    .action(async function (this: Command, host: string, opts: { wait: string; json?: boolean }) {
      const cc = await cctx(this)
      const io = makeCtx(this).io
      const r = await withScheduler(cc, async v => await drainHost(v, cc, host, true, Number(opts.wait) * 1000))
      if (opts.json === true) io.out(renderJson(r))
      else {
        io.out(`${host} drained\n`)
        for (const [s, hs] of Object.entries(r.moved)) io.out(`  ${s}: now on ${hs.join(', ') || 'no host'}\n`)
        for (const s of r.manual) io.out(`  ${s}: stays (manual placement, fleet.hosts)\n`)
        for (const s of r.left) io.out(`  ${s}: still there after ${opts.wait} s (see conductor fleet explain ${s})\n`)
      }
      if (r.left.length > 0) throw new Reported('CND_FLEET_UNPLACEABLE')
    })

  fleet
    .command('undrain')
    .description('Take a machine back: new copies may go there again (running copies are not moved back)')
    .argument('<host>', 'peer id')
    .action(async function (this: Command, host: string) {
      const cc = await cctx(this)
      await withScheduler(cc, async v => await drainHost(v, cc, host, false, 0))
      makeCtx(this).io.out(`${host} takes copies again\n`)
    })
}

function renderExplanation(e: LiveExplanation): string {
  const lines = [
    `${e.service}: ${e.fit === 'unplaceable' ? 'unplaceable now' : `${e.fit} on ${e.chosen}`}; placed on ${e.placed_on.join(', ') || 'no host'}`
  ]
  for (const m of e.machines) {
    lines.push(`  ${m.id}: ${m.why}`)
    for (const [u, f] of Object.entries(m.units)) {
      lines.push(`    ${u}: B ${f.best} N ${f.min} C ${f.capacity} (B/C ${formatRatio(f.ratio)})`)
    }
  }
  for (const [id, why] of Object.entries(e.ineligible)) lines.push(`  ${id}: not considered: ${why}`)
  return lines.join('\n') + '\n'
}
