import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { NAME_PATTERN, PEER_ID_PATTERN } from '../model/index.js'
import { FleetHostsInvalid, FleetHostsSyntax, UsageError } from '../../errors/index.js'
import { parseJsonc } from '../../errors/index.js'
import type { loadModelSchemas } from '../model/index.js'
import { describeIssues } from '../../errors/index.js'
import type { MachineSpec } from './placement.js'

type ResourceUnitsSchema = Awaited<ReturnType<typeof loadModelSchemas>>['resourceUnitsSchema']

// The fleet `conductor fleet plan --hosts FILE` plans for, without a cluster: each machine's
// peer id, capacity (the units of host.json "resources") and the services already on it.
// Loaded only by that command (zod costs CLI start-up time).

// Built on each read from the model's resource schema, which placement/lazy.ts loads (zod) before
// it loads this module: no top-level await, which a CommonJS build could not have.
const machineSchema = (resourceUnitsSchema: ResourceUnitsSchema) =>
  z
    .strictObject({
      id: z
        .string()
        .regex(PEER_ID_PATTERN, 'must be a peer id (a hostname: letters, digits and _ . -)')
        .describe('Peer id of the machine (host.json hostname).'),
      resources: resourceUnitsSchema
        .describe('Its capacity, as host.json "resources"; a unit not declared counts 0.')
        .optional(),
      services: z
        .array(z.string().regex(NAME_PATTERN, 'must be a service name (letters, digits and _ . -)'))
        .describe('Services already placed on it: their resources count, and they are not placed again.')
        .optional()
    })
    .describe('One machine of the fleet.')

export const hostsFileSchema = (resourceUnitsSchema: ResourceUnitsSchema) =>
  z
    .array(machineSchema(resourceUnitsSchema))
    .superRefine((machines, ctx) => {
      const ids = new Map<string, number>()
      for (const [i, m] of machines.entries()) {
        const first = ids.get(m.id)
        if (first !== undefined) {
          const message = `"${m.id}" is already the id of machine /${first}: peer ids are unique`
          ctx.addIssue({ code: 'custom', input: m.id, path: [i, 'id'], message })
        } else ids.set(m.id, i)
        const seen = new Set<string>()
        for (const [j, s] of (m.services ?? []).entries()) {
          const message = `"${s}" is listed twice: a machine runs at most one copy of a service`
          if (seen.has(s)) ctx.addIssue({ code: 'custom', input: s, path: [i, 'services', j], message })
          seen.add(s)
        }
      }
    })
    .describe('The machines of a fleet for `conductor fleet plan`.')

/** Reads and validates the hosts file; every problem is reported with its JSON path. */
export function readHostsFile(file: string, resourceUnitsSchema: ResourceUnitsSchema): MachineSpec[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new UsageError(`--hosts ${file}: cannot read (${code})`, undefined, undefined, { cause: err })
  }
  const schema = hostsFileSchema(resourceUnitsSchema)
  const parsed = schema.safeParse(parseJsonc(text, file, FleetHostsSyntax))
  if (!parsed.success) {
    const lines = describeIssues(schema, parsed.error.issues)
    const err = new FleetHostsInvalid(lines[0]?.message ?? 'invalid', file, lines[0]?.jsonPath)
    if (lines.length > 1) err.message = lines.map(l => `${file}: ${l.jsonPath}: ${l.message}`).join('\n')
    throw err
  }
  return parsed.data.map(m => ({ id: m.id, capacity: m.resources ?? {}, services: m.services ?? [] }))
}
