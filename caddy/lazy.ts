// What this folder's index.ts offers that loads a heavy module only when called: an index.ts only
// re-exports (scripts/bundle-barrels.mjs and test/unit/architecture.test.ts), so these live here.
/** The zod schema of snippets (snippet-schema.ts), loaded on this call only: zod costs ~100 ms of a start. */
export async function loadSnippetSchemas(): Promise<typeof import('./snippet-schema.js')> {
  return await import('./snippet-schema.js')
}
