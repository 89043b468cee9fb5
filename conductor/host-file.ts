import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { HostFileInvalid } from './errors.js'
import { parseJsonc } from './jsonc.js'
import { describeIssues } from './zod-issues.js'

// host.json describes this machine (ARCHITECTURE.md "Files on the host"). Only the keys the
// reconciler reads are declared here; other areas add theirs, so unknown keys are kept
// (looseObject) rather than rejected.

export const SCOPES = ['system', 'user'] as const
export type Scope = typeof SCOPES[number]

export const hostFileSchema = z.looseObject({
  scope: z.enum(SCOPES).describe('systemd scope Conductor manages: "system" (/etc/systemd/system, systemctl; servers) or "user" (~/.config/systemd/user, systemctl --user; rootless hosts). Default system; --scope and CONDUCTOR_SCOPE override it.').optional(),
  caddy_admin: z.string().regex(/^[^\s/]+:\d+$/, 'must be HOST:PORT').describe('Caddy admin API address, written into the default caddy.json by `conductor system install`. Default localhost:2019.').optional()
}).describe('This machine (/etc/conductor/host.json).')

export type HostFile = z.infer<typeof hostFileSchema>

/** Reads host.json; an absent file is an empty host. */
export function loadHostFile (file: string): HostFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new HostFileInvalid(`cannot read: ${(err as Error).message}`, file)
  }
  let raw: unknown
  try { raw = parseJsonc(text, file, HostFileInvalid) } catch (err) { throw err instanceof HostFileInvalid ? err : new HostFileInvalid((err as Error).message, file) }
  const parsed = hostFileSchema.safeParse(raw)
  if (!parsed.success) {
    const first = describeIssues(hostFileSchema, parsed.error.issues)[0]
    throw new HostFileInvalid(first?.message ?? 'invalid', file, first?.jsonPath)
  }
  return parsed.data
}
