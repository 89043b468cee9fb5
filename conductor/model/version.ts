import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

let cached: string | undefined

/** The package version; works from the sources (conductor/) and the build (dist/conductor/). */
export function readVersion(): string {
  if (cached !== undefined) return cached
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'conductor' && pkg.version !== undefined) return (cached = pkg.version)
    } catch {
      /* keep walking up */
    }
    dir = path.dirname(dir)
  }
  return (cached = '0.0.0')
}
