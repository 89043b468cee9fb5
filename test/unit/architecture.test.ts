import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import ts from 'typescript'
// @ts-expect-error: a plain ES module without types (the build script's plugin)
import { readBarrel } from '../../scripts/bundle-barrels.mjs'
import { repoRoot } from '../harness/cli.js'

// The import rules of ARCHITECTURE.md, enforced on every import of the source tree: the table
// "Folders and imports" is read from the document itself, so the doc and the code cannot
// drift. A new folder needs a row; a new arrow needs to be allowed there (arrows only go down);
// another folder is reached only through its index.ts; and no file takes part in a cycle.

const SOURCE_TOPS = ['conductor', 'gateway', 'policies', 'cgi', 'caddy', 'errors']

interface Row {
  unit: string
  mayImport: Set<string>
}

function readTable(): Row[] {
  const doc = readFileSync(path.join(repoRoot, 'ARCHITECTURE.md'), 'utf8')
  const section = doc.split('## Folders and imports')[1]?.split('\n## ')[0] ?? ''
  const rows: Row[] = []
  for (const line of section.split('\n')) {
    const cells = line.split('|').map(c => c.trim())
    if (cells.length < 5 || !cells[1]!.startsWith('`')) continue
    const unit = cells[1]!.replace(/`/g, '')
    const mayImport = new Set([...cells[3]!.matchAll(/`([^`]+)`/g)].map(m => m[1]!))
    rows.push({ unit, mayImport })
  }
  return rows
}

function sourceFiles(): string[] {
  const out: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(path.join(repoRoot, dir))) {
      const rel = path.join(dir, name)
      if (statSync(path.join(repoRoot, rel)).isDirectory()) walk(rel)
      else if (rel.endsWith('.ts') && !rel.endsWith('.d.ts')) out.push(rel)
    }
  }
  for (const top of SOURCE_TOPS) walk(top)
  return out.sort()
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,]+?\s+from\s+)?'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g

/** Relative imports of a file, as repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(repoRoot, file), 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!
    out.push(path.normalize(path.join(path.dirname(file), spec)).replace(/\.js$/, '.ts'))
  }
  return out
}

const rows = readTable()
const files = sourceFiles()
/** The row a file belongs to: the longest unit that contains it (a file unit, or a folder). */
const unitOf = (file: string): string | undefined => {
  let best: string | undefined
  for (const { unit } of rows) {
    const inside = unit.endsWith('/') ? file.startsWith(unit) : file === unit
    if (inside && (best === undefined || unit.length > best.length)) best = unit
  }
  return best
}
// conductor/'s own row is for its ground files: each stage folder under it needs a row of its own.
const isOrphan = (file: string): boolean => {
  const u = unitOf(file)
  return u === undefined || (u === 'conductor/' && file.slice(u.length).includes('/'))
}

t.test('the table of ARCHITECTURE.md lists the folders', async t => {
  t.ok(rows.length >= 15, `rows read: ${rows.map(r => r.unit).join(' ')}`)
  for (const r of rows)
    for (const dep of r.mayImport)
      t.ok(
        rows.some(x => x.unit === dep),
        `${r.unit} may import ${dep}, which has a row`
      )
})

t.test('every source file belongs to a row (a new folder needs one)', async t => {
  const orphans = files.filter(isOrphan)
  t.same(orphans, [], 'files outside any row (add the folder to ARCHITECTURE.md)')
})

t.test('imports follow the table and go through index.ts', async t => {
  const refused: string[] = []
  const bypass: string[] = []
  for (const file of files) {
    const from = unitOf(file)!
    const allowed = rows.find(r => r.unit === from)!.mayImport
    for (const target of importsOf(file)) {
      const to = unitOf(target)
      if (to === undefined) {
        refused.push(`${file} -> ${target} (no row)`)
        continue
      }
      if (to === from) continue
      if (!allowed.has(to)) refused.push(`${file} -> ${target} (${from} may not import ${to})`)
      // Ground files of conductor/ and the entry point are their own surface.
      const isSurface = to === 'conductor/' || !to.endsWith('/') || target === `${to}index.ts`
      if (!isSurface) bypass.push(`${file} -> ${target} (import ${to}index.ts)`)
    }
  }
  t.same(refused, [], 'imports the table does not allow')
  t.same(bypass, [], "imports that bypass a folder's index.ts")
})

// The bundle reads an import of a folder's index.ts as imports of the files behind it
// (scripts/bundle-barrels.mjs), which it can do only when the index does nothing but re-export:
// a function defined there would take the whole folder into every command that imports it.
t.test("an index.ts only re-exports (what loads on demand lives in the folder's lazy.ts)", async t => {
  const defines: string[] = []
  for (const file of files.filter(f => path.basename(f) === 'index.ts')) {
    const { other } = readBarrel(ts, path.join(repoRoot, file)) as { other: string[] }
    for (const line of other) defines.push(`${file}: ${line}`)
  }
  t.same(defines, [], 'statements of an index.ts that are not `export ... from` (move them to a file it re-exports)')
})

t.test('no import cycle between files', async t => {
  const graph = new Map(files.map(f => [f, importsOf(f).filter(x => files.includes(x))]))
  // Tarjan's strongly connected components: any component of two or more files is a cycle.
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index)
    low.set(v, index)
    index++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) cycles.push(component.sort())
    }
  }
  for (const f of files) if (!idx.has(f)) visit(f)
  t.same(cycles, [], 'files that import each other, directly or around a loop')
})
