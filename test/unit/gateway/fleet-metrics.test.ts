import t from 'tap'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { Registry } from 'prom-client'
import { registerFleetSyncMetrics } from '../../../gateway/fleet-metrics.js'
import { createMetrics } from '../../../gateway/metrics.js'
import { AuthStats } from '../../../gateway/auth-stats.js'
import { tempDir } from '../../harness/tmp.js'

// The fleet sync gauges of the gateway's /metrics (issue 18 item 5), read from the sync task's
// status file (ROOT/run/conductor/fleet-sync.json) at each scrape.

const NOW = 1_800_000_000_000
const status = (over: object = {}): string =>
  JSON.stringify({
    updated_at: NOW - 800,
    pid: 1,
    host: 'b',
    applied_revision: 7,
    bucket_revision: 9,
    pending_since: NOW - 2500,
    bucket_open: true,
    services: {
      web: { version: '1', running: true, placed_on: ['a', 'b'], at: NOW },
      api: { version: '2', running: false, placed_on: ['a'], at: NOW },
      bad: {
        running: false,
        placed_on: [],
        refused: { version: 'x', error: 'no', code: 'CND_SERVICE_INVALID' },
        at: NOW
      }
    },
    ...over
  })

async function scrape(runDir: string, now = NOW): Promise<string> {
  const registry = new Registry()
  registerFleetSyncMetrics(registry, runDir, () => now)
  return await registry.metrics()
}

t.test('a running sync task: up, lag in revisions and seconds, services by state', async t => {
  const run = tempDir(t)
  writeFileSync(path.join(run, 'fleet-sync.json'), status())
  const text = await scrape(run)
  t.match(text, 'conductor_fleet_sync_up{host="b"} 1\n')
  t.match(text, 'conductor_fleet_sync_status_age_seconds{host="b"} 0.8\n')
  t.match(text, 'conductor_fleet_sync_lag_revisions{host="b"} 2\n')
  t.match(text, 'conductor_fleet_sync_lag_seconds{host="b"} 2.5\n')
  t.match(text, 'conductor_fleet_sync_services{host="b",state="installed"} 2\n')
  t.match(text, 'conductor_fleet_sync_services{host="b",state="running"} 1\n')
  t.match(text, 'conductor_fleet_sync_services{host="b",state="refused"} 1\n')
})

t.test('a stale status, or buckets not open: down; each scrape reads the file again', async t => {
  const run = tempDir(t)
  const file = path.join(run, 'fleet-sync.json')
  writeFileSync(file, status({ updated_at: NOW - 6000 }))
  t.match(await scrape(run), 'conductor_fleet_sync_up{host="b"} 0\n', 'older than 5 s: the task is not running')
  writeFileSync(file, status({ bucket_open: false, pending_since: 0 }))
  const text = await scrape(run)
  t.match(text, 'conductor_fleet_sync_up{host="b"} 0\n', 'the buckets cannot be opened')
  t.match(text, 'conductor_fleet_sync_lag_seconds{host="b"} 0\n', 'nothing waits')
})

t.test('no status file (a host syncing nothing), or a damaged one: no samples, the scrape still works', async t => {
  const run = tempDir(t)
  let text = await scrape(run)
  t.match(text, '# TYPE conductor_fleet_sync_up gauge', 'the metric is declared')
  t.notMatch(text, /conductor_fleet_sync_up\{/, 'but has no sample')
  writeFileSync(path.join(run, 'fleet-sync.json'), '{"updated_at": ')
  text = await scrape(run)
  t.notMatch(text, /conductor_fleet_sync_\w+\{/, 'a damaged file: no samples either')
})

t.test('createMetrics registers them when given the run directory, not otherwise', async t => {
  const run = tempDir(t)
  writeFileSync(path.join(run, 'fleet-sync.json'), status({ updated_at: Date.now() }))
  t.match(await createMetrics(new AuthStats(), run).registry.metrics(), /conductor_fleet_sync_up\{host="b"\} 1\n/)
  t.notMatch(await createMetrics(new AuthStats()).registry.metrics(), /conductor_fleet_sync/)
})
