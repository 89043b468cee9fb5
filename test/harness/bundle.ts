import path from 'node:path'
import { writeFileSync } from 'node:fs'
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

/**
 * A preload for `node --require FILE` that appends the path of every CommonJS file the process
 * compiles, one a line, to the file named by $LOADED_VAR: which chunks of the bundle (CommonJS,
 * scripts/bundle.mjs) a command read, in order. Returns the preload's path.
 */
export function recordLoadsPreload(dir: string, loadedVar = 'LOADED'): string {
  const file = path.join(dir, 'record-loads.cjs')
  writeFileSync(
    file,
    "const fs = require('node:fs')\n" +
      "const Module = require('node:module')\n" +
      "const js = Module._extensions['.js']\n" +
      "Module._extensions['.js'] = function (m, file) {\n" +
      `  fs.appendFileSync(process.env.${loadedVar}, file + '\\n')\n` +
      '  return js.call(this, m, file)\n' +
      '}\n'
  )
  return file
}
