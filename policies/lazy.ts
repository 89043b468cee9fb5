// What this folder's index.ts offers that loads a heavy module only when called: an index.ts only
// re-exports (scripts/bundle-barrels.mjs and test/unit/architecture.test.ts), so these live here.
// The zod schema of policy files loads on these calls only.
import type * as Schema from './schema.js'
/** The zod schemas of policy files (policyFileSchema, bearerEntrySchema, matcherSchema), loaded on this call. */
export async function loadPolicySchemas(): Promise<typeof Schema> {
  return await import('./schema.js')
}

/** JSON Schema of policy files for editors (`conductor schema policy`); zod loads on this call only. */
export async function policyJsonSchema(): Promise<unknown> {
  return (await loadPolicySchemas()).policyJsonSchema()
}
