// What this folder's index.ts offers that loads a heavy module only when called: an index.ts only
// re-exports (scripts/bundle-barrels.mjs and test/unit/architecture.test.ts), so these live here.
// node-tar costs 100-300 ms to load: packing and unpacking load it on their first call.
import type * as Pack from './pack.js'
import type * as Unpack from './unpack.js'
/** A service directory as a deterministic tar, its SHA-256 and its entries (archive-pack.ts). */
export async function packServiceDir(...args: Parameters<typeof Pack.packServiceDir>): Promise<Pack.PackedService> {
  return await (await import('./pack.js')).packServiceDir(...args)
}

/** A checked archive into a fresh directory, validated as a service, or a refusal (archive-unpack.ts). */
export async function unpackServiceArchive(
  ...args: Parameters<typeof Unpack.unpackServiceArchive>
): Promise<Unpack.UnpackedService> {
  return await (await import('./unpack.js')).unpackServiceArchive(...args)
}
