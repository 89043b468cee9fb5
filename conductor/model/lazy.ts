// What this folder's index.ts offers that loads a heavy module only when called: an index.ts only
// re-exports (scripts/bundle-barrels.mjs and test/unit/architecture.test.ts), so these live here.
/** The model's zod schemas (schemas.ts), loaded on this call only: zod costs ~100 ms of a start. */
export async function loadModelSchemas(): Promise<typeof import('./schemas.js')> {
  return await import('./schemas.js')
}

/** The JSON Schema of conductor-service.json (`conductor schema`); zod loads on this call only. */
export async function serviceJsonSchema(): Promise<unknown> {
  return (await loadModelSchemas()).serviceJsonSchema()
}
