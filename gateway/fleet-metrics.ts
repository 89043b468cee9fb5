import { readFileSync } from 'node:fs'
import path from 'node:path'
import { Gauge, type Registry } from 'prom-client'
import { FLEET_SYNC_STATUS_FILE, FLEET_SYNC_STATUS_STALE_MS } from '../conductor/model/index.js'

// Fleet service sync in the gateway's /metrics (issue 18 item 5): the sync task of the fleet
// daemon (conductor-sync.service) rewrites its status file every second; each scrape reads it,
// as `conductor doctor` does, so the numbers are those of the moment and no NATS is needed. A
// host without the file (not in a fleet, or the daemon never ran) has no samples: no alert for
// a host that syncs nothing. Every sample is labelled with the host's peer id, so a scraper of
// several hosts tells them apart; the status's own fields are read defensively (it is JSON on
// disk, and a scrape must never fail on it).

interface StatusFile {
  updated_at?: unknown
  host?: unknown
  applied_revision?: unknown
  bucket_revision?: unknown
  pending_since?: unknown
  bucket_open?: unknown
  services?: Record<string, { running?: unknown; refused?: unknown; version?: unknown }>
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

function readStatus(file: string): StatusFile | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as unknown
    return typeof s === 'object' && s !== null ? (s as StatusFile) : undefined
  } catch {
    return undefined
  }
}

/** Registers the fleet sync gauges on REGISTRY, read from RUN_DIR's status file at each scrape. */
export function registerFleetSyncMetrics(registry: Registry, runDir: string, now: () => number = Date.now): void {
  const file = path.join(runDir, FLEET_SYNC_STATUS_FILE)
  // One read per scrape, shared by the gauges (prom-client collects them one after the other).
  let cached: { at: number; status: StatusFile | undefined } | undefined
  const status = (): StatusFile | undefined => {
    const t = now()
    if (cached === undefined || t - cached.at > 200) cached = { at: t, status: readStatus(file) }
    return cached.status
  }
  const gauge = (
    name: string,
    help: string,
    value: (s: StatusFile, t: number) => number,
    labelNames: Array<'host' | 'state'> = ['host']
  ): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset()
        const s = status()
        if (s === undefined) return
        this.set({ host: String(s.host ?? '') }, value(s, now()))
      }
    })
  }
  const age = (s: StatusFile, t: number): number => Math.max(0, t - num(s.updated_at))
  gauge(
    'conductor_fleet_sync_up',
    'The fleet sync task runs (status fresh) and has the fleet buckets open: 1, else 0',
    (s, t) => (age(s, t) <= FLEET_SYNC_STATUS_STALE_MS && s.bucket_open === true ? 1 : 0)
  )
  gauge(
    'conductor_fleet_sync_status_age_seconds',
    'Seconds since the fleet sync task last wrote its status (it writes every second while it runs)',
    (s, t) => age(s, t) / 1000
  )
  gauge(
    'conductor_fleet_sync_lag_revisions',
    'Service records in the fleet bucket not yet applied (or refused) on this host',
    s => Math.max(0, num(s.bucket_revision) - num(s.applied_revision))
  )
  gauge(
    'conductor_fleet_sync_lag_seconds',
    'How long the oldest record seen and not yet applied on this host has waited (0: none waits)',
    (s, t) => (num(s.pending_since) > 0 ? Math.max(0, t - num(s.pending_since)) / 1000 : 0)
  )
  new Gauge({
    name: 'conductor_fleet_sync_services',
    help: 'Synced services on this host by state: installed (unpacked), running (placed here), refused (last version refused)',
    labelNames: ['host', 'state'],
    registers: [registry],
    collect() {
      this.reset()
      const s = status()
      if (s === undefined) return
      const host = String(s.host ?? '')
      const list = Object.values(s.services ?? {})
      this.set({ host, state: 'installed' }, list.filter(v => typeof v.version === 'string').length)
      this.set({ host, state: 'running' }, list.filter(v => v.running === true).length)
      this.set({ host, state: 'refused' }, list.filter(v => v.refused !== undefined).length)
    }
  })
}
