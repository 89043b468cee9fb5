import t from 'tap'
import path from 'node:path'
import ts from 'typescript'
// @ts-expect-error: a plain ES module without types (the build script's plugin)
import { flattenImports, readBarrel } from '../../scripts/bundle-barrels.mjs'
import { tempDir, writeTree } from '../harness/tmp.js'

// scripts/bundle-barrels.mjs: what the bundler reads instead of an import of a folder's index.ts.
// The rewrite must name exactly the files that define what is imported, keep local names, leave
// types and everything else alone.

t.test('imports of an index.ts become imports of the files that define the names', async t => {
  const root = tempDir(t, 'cnd-barrels-')
  writeTree(root, {
    'lib/index.ts': [
      '// a folder surface',
      "export { a, b as bee, type T } from './one.js'",
      "export type { U } from './two.js'",
      "export * as ns from './three.js'",
      "export { lazy } from './lazy.js'"
    ].join('\n'),
    'lib/one.ts': 'export const a = 1; export const b = 2; export type T = number',
    'lib/three.ts': 'export const c = 3',
    'lib/lazy.ts': 'export async function lazy() {}'
  })
  const barrels = new Map<string, unknown>()
  const barrelOf = (f: string): unknown => {
    if (!barrels.has(f)) barrels.set(f, readBarrel(ts, f))
    return barrels.get(f)
  }
  const file = path.join(root, 'app/main.ts')
  const src = [
    "import { a, bee as b2, type T, ns, lazy } from '../lib/index.js'",
    "import type { U } from '../lib/index.js'",
    "import { readFileSync } from 'node:fs'",
    "import { other } from './other.js'",
    'console.log(a, b2, ns, lazy, readFileSync, other)'
  ].join('\n')
  const out = flattenImports(ts, file, src, barrelOf) as string
  t.equal(
    out.split('\n')[0],
    "import { a, b as b2 } from '../lib/one.js'; import { lazy } from '../lib/lazy.js'; import * as ns from '../lib/three.js'",
    'one import per defining file, the local names kept, the type dropped (the loader erases it)'
  )
  t.same(out.split('\n').slice(1), src.split('\n').slice(1), 'type-only, package and same-folder imports untouched')
  t.equal(
    flattenImports(ts, file, "import { x } from './index.js'\n", () => null),
    null,
    'not a barrel: unchanged'
  )
})

t.test('a name an index.ts does not re-export keeps its import from the index', async t => {
  const root = tempDir(t, 'cnd-barrels-')
  writeTree(root, {
    'lib/index.ts': "export { a } from './one.js'\nexport const local = 1\n",
    'lib/one.ts': 'export const a = 1'
  })
  const barrel = readBarrel(ts, path.join(root, 'lib/index.ts')) as { other: string[] }
  t.same(barrel.other, ['export const local = 1'], 'the definition is reported (the architecture test refuses it)')
  const out = flattenImports(
    ts,
    path.join(root, 'main.ts'),
    "import { a, local } from './lib/index.js'\n",
    () => barrel
  )
  t.equal(out, "import { a } from './lib/one.js'; import { local } from './lib/index.js'\n")
})
