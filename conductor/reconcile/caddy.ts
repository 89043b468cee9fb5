import { CaddyUnreachable, deregisterSnippets, snippetAtId } from '../../caddy/index.js'
import { desiredSnippetSources, listSnippetRecords, removeSnippetRecord, syncSnippets } from '../proxy/index.js'
import type { ServiceEntry } from '../model/index.js'
import type { SystemCtx } from './context.js'

// `conductor reload` converges Caddy too (issue 8 item 2): every snippet that should be there
// is (re-)registered — which also repairs a Caddy that restarted and lost API-made routes —
// and what owners that should have none left behind (a disabled service) is removed.

export interface CaddyConvergence {
  /** "owner: @id created" lines for what changed; nothing when Caddy was already right. */
  changes: string[]
  errors: string[]
}

/** `entries`: the services the reload already loaded (not read again). */
export async function convergeCaddy (sctx: SystemCtx, entries: ServiceEntry[]): Promise<CaddyConvergence | undefined> {
  const caddy = sctx.drivers.caddy
  if (caddy === undefined) return undefined
  const desired = await desiredSnippetSources(sctx, entries)
  const stale = listSnippetRecords(sctx.roots).filter(r => !desired.sources.some(s => s.owner === r.owner))
  if (desired.sources.length === 0 && desired.protected.length === 0 && stale.length === 0) return undefined
  const out: CaddyConvergence = { changes: [], errors: [] }
  try {
    const client = caddy.client()
    for (const owner of await syncSnippets(sctx, client, err => err instanceof CaddyUnreachable, desired)) {
      if (owner.error !== undefined) out.errors.push(`${owner.owner}: ${owner.error}`)
      for (const r of owner.results) if (r.result !== 'unchanged') out.changes.push(`${owner.owner}: ${r.at_id ?? r.id} ${r.result}`)
    }
    for (const rec of stale) {
      const results = await deregisterSnippets(client, rec.snippets)
      rec.snippets.forEach((s, i) => { if (results[i] === 'deleted') out.changes.push(`${rec.owner}: ${snippetAtId(s) ?? s.id} removed`) })
      removeSnippetRecord(sctx.roots, rec.owner)
    }
  } catch (err) {
    out.errors.push(`Caddy: ${(err as Error).message}`)
  }
  return out
}
