import path from 'node:path'
import * as esbuild from 'esbuild'
// @ts-expect-error: a plain ES module without types (the build script)
import { bundleOptions } from '../../scripts/bundle.mjs'

// The shipped CLI is an esbuild bundle (scripts/bundle.mjs): a package is no longer a folder of
// modules a test can watch being loaded, but part of some chunk. This builds the bundle in memory
// with the shipped options (same content, same chunk names as dist/conductor/) to say which.

let metafile: Promise<esbuild.Metafile> | undefined

export async function bundleMetafile(): Promise<esbuild.Metafile> {
  metafile ??= esbuild.build({ ...(bundleOptions() as esbuild.BuildOptions), write: false }).then(r => r.metafile!)
  return await metafile
}

/** File names (in dist/conductor/) of the chunks that hold modules of `pkg` (e.g. "zod"). */
export async function chunksHolding(pkg: string): Promise<string[]> {
  const { outputs } = await bundleMetafile()
  return Object.entries(outputs)
    .filter(([f, o]) => f.endsWith('.js') && Object.keys(o.inputs).some(i => i.includes(`node_modules/${pkg}/`)))
    .map(([f]) => path.basename(f))
}

/** File names (in dist/conductor/) of the chunks that hold this source file (e.g. "gateway/app.ts"). */
export async function chunksOfSource(source: string): Promise<string[]> {
  const { outputs } = await bundleMetafile()
  return Object.entries(outputs)
    .filter(([f, o]) => f.endsWith('.js') && Object.keys(o.inputs).includes(source))
    .map(([f]) => path.basename(f))
}
