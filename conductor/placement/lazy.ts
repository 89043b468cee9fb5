// What this folder's index.ts offers that loads a heavy module only when called: an index.ts only
// re-exports (scripts/bundle-barrels.mjs and test/unit/architecture.test.ts), so these live here.
// The hosts file reader needs zod (the model's schemas): loaded on its first call.
import { loadModelSchemas } from '../model/index.js'

export async function readHostsFile(file: string): Promise<import('./placement.js').MachineSpec[]> {
  const { resourceUnitsSchema } = await loadModelSchemas()
  return (await import('./hosts-file.js')).readHostsFile(file, resourceUnitsSchema)
}
