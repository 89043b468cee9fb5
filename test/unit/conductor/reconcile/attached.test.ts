import t, { type Test } from 'tap'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { clearStaleReceipts, startAttached, stopAttached } from '../../../../conductor/reconcile/attached.js'
import type { SystemCtx } from '../../../../conductor/reconcile/context.js'
import { tempDir } from '../../../harness/tmp.js'

// Conductor's own starts and stops hand the config units a receipt (issue 16 item 2): present
// while systemctl runs, for the config unit of each main unit, in the same call; gone after,
// whether the call succeeded or not, so a later start or stop by systemd alone is not skipped.

type Call = { verb: string; units: string[]; receipts: string[] }

const states = new Map<string, string>()

function fixture(t: Test, installed: boolean, fail = false): { sctx: SystemCtx; calls: Call[] } {
  const unitsDir = tempDir(t)
  const run = tempDir(t)
  const templates = ['conductor-deployment-config@.service', 'conductor-service-config@.service']
  if (installed) for (const f of templates) writeFileSync(path.join(unitsDir, f), '')
  const calls: Call[] = []
  const dir = path.join(run, 'units')
  const receipts = (): string[] => (existsSync(dir) ? readdirSync(dir).sort() : [])
  const verb =
    (name: string) =>
    async (units: string[]): Promise<void> => {
      calls.push({ verb: name, units, receipts: receipts() })
      if (fail) throw new Error('systemctl failed')
    }
  const systemd = {
    start: verb('start'),
    stop: verb('stop'),
    stopNoBlock: verb('stop --no-block'),
    list: async (units: string[]) => units.map(unit => ({ unit, active: states.get(unit) ?? 'inactive', sub: '' }))
  }
  const sctx = { roots: { run }, scope: { unitsDir }, drivers: { systemd } } as unknown as SystemCtx
  return { sctx, calls }
}

t.test('start: config units in the same call, receipts during it, none after', async t => {
  const { sctx, calls } = fixture(t, true)
  await startAttached(sctx, ['conductor-deployment@web-a.service', 'conductor-service@web.service'])
  t.same(calls, [
    {
      verb: 'start',
      units: [
        'conductor-deployment@web-a.service',
        'conductor-service@web.service',
        'conductor-deployment-config@web-a.service',
        'conductor-service-config@web.service'
      ],
      receipts: ['conductor-deployment-config@web-a.service.start', 'conductor-service-config@web.service.start']
    }
  ])
  t.same(readdirSync(path.join(sctx.roots.run, 'units')), [], 'receipts removed after the call')
})

t.test('stop: a failed call leaves no receipt either', async t => {
  const { sctx, calls } = fixture(t, true, true)
  await t.rejects(stopAttached(sctx, ['conductor-deployment@web-a.service']), /systemctl failed/)
  t.same(calls[0]?.receipts, ['conductor-deployment-config@web-a.service.stop'])
  t.same(readdirSync(path.join(sctx.roots.run, 'units')), [])
})

t.test('hosts without the config templates (an older system install): main units only', async t => {
  const { sctx, calls } = fixture(t, false)
  await startAttached(sctx, ['conductor-deployment@web-a.service'])
  t.same(calls, [{ verb: 'start', units: ['conductor-deployment@web-a.service'], receipts: [] }])
  await startAttached(sctx, [])
  t.equal(calls.length, 1, 'nothing to start: no systemctl call')
})

t.test("a deploy's queued stop keeps its receipt until systemd ran it; a reconcile meanwhile keeps it too", async t => {
  const { sctx, calls } = fixture(t, true)
  const config = 'conductor-deployment-config@web-old.service'
  await stopAttached(sctx, ['conductor-deployment@web-old.service'], { noBlock: true })
  t.same(calls[0]?.verb, 'stop --no-block')
  t.same(readdirSync(path.join(sctx.roots.run, 'units')), [`${config}.stop`], 'left for the config unit')
  // The deploy has exited (the receipt names a dead writer), systemd still stops the old one.
  writeFileSync(path.join(sctx.roots.run, 'units', `${config}.stop`), '999999 queued\n')
  states.set(config, 'deactivating')
  await clearStaleReceipts(sctx)
  t.same(readdirSync(path.join(sctx.roots.run, 'units')), [`${config}.stop`], 'kept while its stop is pending')
  // A killed holder's receipt beside it goes.
  writeFileSync(path.join(sctx.roots.run, 'units', 'conductor-service-config@web.service.start'), '999999\n')
  await clearStaleReceipts(sctx)
  t.same(readdirSync(path.join(sctx.roots.run, 'units')), [`${config}.stop`], "a killed holder's receipt removed")
  // The config unit stopped without consuming it (it was not running): nothing will, it goes.
  states.set(config, 'inactive')
  await clearStaleReceipts(sctx)
  t.same(readdirSync(path.join(sctx.roots.run, 'units')), [])
  states.clear()
})

t.test('a queued stop whose call failed leaves no receipt', async t => {
  const { sctx } = fixture(t, true, true)
  await t.rejects(stopAttached(sctx, ['conductor-deployment@web-a.service'], { noBlock: true }), /systemctl failed/)
  t.same(readdirSync(path.join(sctx.roots.run, 'units')), [])
})
