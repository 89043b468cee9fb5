import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import type { Roots } from './roots.js'

// Reads the deployments recorded under <roots.deployments>/<ID>/state.json, for
// `conductor caddy status|sync` (which must re-register deployment snippets after a Caddy
// restart). The file is written by the deployment code (another part of Conductor), so this
// reader is tolerant: it takes the fields it needs under their likely names and ignores the
// rest; an unreadable file is reported, not fatal.

const stateSchema = z.object({
  service: z.string().min(1),
  part: z.string().optional(),
  id: z.string().optional(),
  pod_ip: z.string().optional(),
  pod_ip_address: z.string().optional(),
  config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  extra: z.record(z.string(), z.string()).optional(),
  state: z.string().optional(),
  status: z.string().optional()
})

export interface DeploymentRecord {
  id: string
  dir: string
  service: string
  part: string
  podIp?: string | undefined
  config: Record<string, string>
  extra: Record<string, string>
}

/** States in which a deployment is not running and its snippets must not be there. */
const INACTIVE = new Set(['stopped', 'failed', 'removed', 'inactive', 'dead'])

export function listDeploymentRecords (roots: Pick<Roots, 'deployments'>): { records: DeploymentRecord[], problems: Array<{ file: string, message: string }> } {
  const records: DeploymentRecord[] = []
  const problems: Array<{ file: string, message: string }> = []
  let names: string[]
  try {
    names = readdirSync(roots.deployments).sort()
  } catch {
    return { records, problems }
  }
  for (const name of names) {
    const dir = path.join(roots.deployments, name)
    const file = path.join(dir, 'state.json')
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue
      problems.push({ file, message: `cannot read: ${(err as Error).message}` })
      continue
    }
    const parsed = stateSchema.safeParse(raw)
    if (!parsed.success) {
      problems.push({ file, message: parsed.error.issues.map(i => `/${i.path.join('/')}: ${i.message}`).join('; ') })
      continue
    }
    const s = parsed.data
    if (INACTIVE.has((s.state ?? s.status ?? '').toLowerCase())) continue
    records.push({
      id: s.id ?? name,
      dir,
      service: s.service,
      part: s.part ?? '',
      podIp: s.pod_ip ?? s.pod_ip_address,
      config: Object.fromEntries(Object.entries(s.config ?? {}).map(([k, v]) => [k, String(v)])),
      extra: s.extra ?? {}
    })
  }
  return { records, problems }
}
