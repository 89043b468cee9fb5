import { readOr } from '../state/index.js'
import { SYNC_STATUS_STALE_MS } from './defaults.js'
import type { SyncStatus } from './sync.js'

// `conductor doctor`'s sync check (issue 18 item 5), from the status file the sync task writes
// every second: the task runs, and how far it is behind the bucket (revisions and time).

export interface SyncCheckResult {
  name: string
  ok: boolean
  detail: string
  fix?: string
}

/** Behind the bucket for longer than this is a failure (a push reaches every host within 5 s). */
const LAG_FAIL_MS = 10_000

export function checkSync(statusFile: string, systemctl: string, now = Date.now()): SyncCheckResult {
  const name = 'fleet sync'
  const text = readOr(statusFile)
  let s: SyncStatus | undefined
  try {
    s = text === undefined ? undefined : (JSON.parse(text) as SyncStatus)
  } catch {
    s = undefined
  }
  const start = `${systemctl} start conductor-sync.service (and conductor-nats.service)`
  if (s === undefined)
    return { name, ok: false, detail: `no sync status at ${statusFile}: the sync task never ran`, fix: start }
  const age = now - s.updated_at
  if (age > SYNC_STATUS_STALE_MS) {
    return {
      name,
      ok: false,
      detail: `the sync task last wrote its status ${Math.round(age / 1000)} s ago`,
      fix: start
    }
  }
  if (s.bucket_open === false) {
    return {
      name,
      ok: false,
      detail: `the sync task runs but cannot open the fleet's buckets: ${s.error ?? 'not yet'}`,
      fix: "conductor doctor's nats check says whether JetStream answers (a clustered JetStream needs a majority of its servers)"
    }
  }
  const lag = lagOf(s, now)
  const refused = Object.entries(s.services)
    .filter(([, v]) => v.refused !== undefined)
    .map(([k, v]) => `${k} ${v.refused!.version} (${v.refused!.code ?? 'refused'})`)
  const detail =
    `${Object.keys(s.services).length} synced service(s), ${lag.revisions} revision(s) behind the bucket` +
    `${lag.ms > 0 ? ` for ${lag.ms} ms` : ''}${refused.length > 0 ? `; refused here: ${refused.join(', ')}` : ''}`
  if (lag.ms > LAG_FAIL_MS) {
    return {
      name,
      ok: false,
      detail,
      fix: "the sync daemon's log says what it waits for (fetching an object needs the bucket's stream leader)"
    }
  }
  return { name, ok: true, detail }
}

export function lagOf(s: SyncStatus, now: number): { revisions: number; ms: number } {
  return {
    revisions: Math.max(0, s.bucket_revision - s.applied_revision),
    ms: s.pending_since > 0 ? now - s.pending_since : 0
  }
}
