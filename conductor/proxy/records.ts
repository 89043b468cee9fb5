import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { isSnippetList, sameJson, type Snippet } from '../../caddy/index.js'
import type { Roots } from '../model/index.js'

// What each owner registered in Caddy, in <roots.run>/caddy/<owner>.json, so deregistration
// and `caddy status` still work when the template's output changes (or it breaks) later, and
// a reload whose template inputs did not change reuses the snippets instead of running it.

export interface SnippetRecord {
  owner: string
  service: string
  deployment?: string | undefined
  template?: string | undefined
  /** Caddy admin endpoint they were registered with. */
  caddy_admin: string
  /**
   * Hash of what the template ran with (inputs.ts): unchanged on the next reload, the recorded
   * snippets are used without running it. Absent in records of older versions: they run once.
   */
  inputs?: string | undefined
  updated_at: string
  snippets: Snippet[]
}

/**
 * Where registrations read and write records: the disk one owner at a time (diskRecords), or
 * the records a reload read once (recordsOver), kept current as it writes.
 */
export interface SnippetRecordStore {
  get: (owner: string) => SnippetRecord | undefined
  put: (record: SnippetRecord) => void
  remove: (owner: string) => void
  /** Every record (replicas.ts: the routes replicas share). Absent: nothing is shared. */
  all?: () => SnippetRecord[]
}

export function diskRecords(roots: Pick<Roots, 'run'>): SnippetRecordStore {
  return {
    get: owner => readSnippetRecord(roots, owner),
    put: record => {
      writeSnippetRecord(roots, record)
    },
    remove: owner => {
      removeSnippetRecord(roots, owner)
    },
    all: () => [...readSnippetRecords(roots).values()]
  }
}

/** Writes go to the disk and to `map`, so whoever holds the map (a reload's Observed) sees them. */
export function recordsOver(roots: Pick<Roots, 'run'>, map: Map<string, SnippetRecord>): SnippetRecordStore {
  return {
    get: owner => map.get(owner),
    put: record => {
      writeSnippetRecord(roots, record)
      map.set(record.owner, record)
    },
    remove: owner => {
      removeSnippetRecord(roots, owner)
      map.delete(owner)
    },
    all: () => [...map.values()]
  }
}

/** Every record, by owner (sorted), from one listing of the directory. */
export function readSnippetRecords(roots: Pick<Roots, 'run'>): Map<string, SnippetRecord> {
  let names: string[]
  try {
    names = readdirSync(path.join(roots.run, 'caddy'))
      .filter(n => n.endsWith('.json'))
      .sort()
  } catch {
    return new Map()
  }
  const out = new Map<string, SnippetRecord>()
  for (const n of names) {
    const rec = readSnippetRecord(roots, n.slice(0, -5))
    if (rec !== undefined) out.set(rec.owner, rec)
  }
  return out
}

export function listSnippetRecords(roots: Pick<Roots, 'run'>): SnippetRecord[] {
  return [...readSnippetRecords(roots).values()]
}

export function snippetRecordFile(roots: Pick<Roots, 'run'>, owner: string): string {
  return path.join(roots.run, 'caddy', `${owner}.json`)
}

export function readSnippetRecord(roots: Pick<Roots, 'run'>, owner: string): SnippetRecord | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(snippetRecordFile(roots, owner), 'utf8'))
  } catch {
    // Absent, or corrupt (a crash mid-write cannot produce one: writes are atomic): none.
    return undefined
  }
  const rec = raw as SnippetRecord
  const snippets: unknown = rec?.snippets
  return isSnippetList(snippets) ? { ...rec, owner, snippets } : undefined
}

export function writeSnippetRecord(roots: Pick<Roots, 'run'>, record: SnippetRecord): void {
  const file = snippetRecordFile(roots, record.owner)
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  // Snippets may carry credentials (basic_auth hashes, upstream headers): owner-only file.
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

export function removeSnippetRecord(roots: Pick<Roots, 'run'>, owner: string): void {
  rmSync(snippetRecordFile(roots, owner), { force: true })
}

/** Same record but for the time it was written. */
export function sameRecord(
  a: Omit<SnippetRecord, 'updated_at'> | undefined,
  b: Omit<SnippetRecord, 'updated_at'>
): boolean {
  if (a === undefined) return false
  const strip = (r: Omit<SnippetRecord, 'updated_at'>): unknown => ({ ...r, updated_at: undefined })
  return sameJson(strip(a), strip(b))
}
