import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { isSnippetList, snippetAtId, type Snippet } from '../../caddy/index.js'
import type { Roots } from '../model/index.js'

// Routes of `conductor caddy protect` are operator state, not derived from services: they
// live in <roots.lib> (survives reboots) so `caddy sync` and reload can bring them back.

export function protectedRouteFile(roots: Pick<Roots, 'lib'>, atId: string): string {
  return path.join(roots.lib, 'caddy', 'protected', `${atId}.json`)
}

export function saveProtectedRoute(roots: Pick<Roots, 'lib'>, snippet: Snippet): void {
  const file = protectedRouteFile(roots, snippetAtId(snippet)!)
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(snippet, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

export function removeProtectedRoute(roots: Pick<Roots, 'lib'>, atId: string): boolean {
  const file = protectedRouteFile(roots, atId)
  try {
    readFileSync(file)
  } catch {
    return false
  }
  rmSync(file, { force: true })
  return true
}

export function listProtectedRoutes(roots: Pick<Roots, 'lib'>): Snippet[] {
  const dir = path.join(roots.lib, 'caddy', 'protected')
  let names: string[]
  try {
    names = readdirSync(dir)
      .filter(n => n.endsWith('.json'))
      .sort()
  } catch {
    return []
  }
  const out: Snippet[] = []
  for (const n of names) {
    try {
      const parsed: unknown = [JSON.parse(readFileSync(path.join(dir, n), 'utf8'))]
      if (isSnippetList(parsed)) out.push(parsed[0]!)
    } catch {
      /* a broken file is skipped; `caddy status` will show the route missing */
    }
  }
  return out
}
