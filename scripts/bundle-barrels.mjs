// An esbuild plugin for the shipped bundle: an import of another folder's `index.ts` becomes
// imports of the files that define the names it takes.
//
// Why: ARCHITECTURE.md makes each folder's index.ts its public surface, and sources import other
// folders only through it. esbuild splits chunks by which files an entry reaches, and an index.ts
// re-exports every file of its folder, so `import { readVersion } from '../model/index.js'` put
// all of conductor/model/, and through model/functions.ts all of cgi/, into every start of the
// CLI (`--version` read 172 KB, `service ls` 302 KB, about half of it code it never ran). esbuild
// keeps the files a re-export names even when the name is unused; it has no option to follow
// re-exports to their source. The sources keep their barrel imports (the architecture test
// checks them); only what the bundler reads is rewritten.
//
// The rewrite is exact or nothing: an index.ts may only re-export (`export { a as b } from
// './x.js'`, `export * as ns from './x.js'`, `export type ...`), which the architecture test also
// enforces. A name an index.ts does not re-export that way keeps its import from the index.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)

/**
 * The re-exports of one index.ts: exported name → the file that defines it and the name there
 * (`namespace` for `export * as ns`). Type-only re-exports are left out: their imports are erased.
 * @param {typeof import('typescript')} ts
 * @param {string} indexFile absolute path
 */
export function readBarrel(ts, indexFile) {
  const sf = ts.createSourceFile(indexFile, readFileSync(indexFile, 'utf8'), ts.ScriptTarget.Latest, false)
  /** @type {Map<string, { file: string, name: string | null }>} */
  const names = new Map()
  /** @type {string[]} */
  const other = []
  for (const st of sf.statements) {
    if (!ts.isExportDeclaration(st) || st.moduleSpecifier === undefined || !ts.isStringLiteral(st.moduleSpecifier)) {
      // `import type` lines and comments are fine; anything else that exports is not a re-export.
      if (!(ts.isImportDeclaration(st) && st.importClause?.isTypeOnly)) other.push(st.getText(sf).split('\n')[0])
      continue
    }
    if (st.isTypeOnly) continue
    const file = sourceOf(path.dirname(indexFile), st.moduleSpecifier.text)
    const clause = st.exportClause
    if (clause === undefined) {
      other.push(st.getText(sf))
    } else if (ts.isNamespaceExport(clause)) {
      names.set(clause.name.text, { file, name: null })
    } else {
      for (const el of clause.elements) {
        if (el.isTypeOnly) continue
        names.set(el.name.text, { file, name: (el.propertyName ?? el.name).text })
      }
    }
  }
  return { names, other }
}

/** `./x.js` from `dir` → the .ts file it names. */
function sourceOf(dir, spec) {
  return path.resolve(dir, spec.replace(/\.js$/, '.ts'))
}

/** `to` as a specifier relative to `fromFile`, with the `.js` extension the sources use. */
function specifier(fromFile, to) {
  const rel = path.relative(path.dirname(fromFile), to).replace(/\.ts$/, '.js')
  return rel.startsWith('.') ? rel : `./${rel}`
}

/**
 * The source of `file` with each value import of a barrel replaced by imports of the defining
 * files, or null when nothing changes.
 * @param {typeof import('typescript')} ts
 * @param {(indexFile: string) => ReturnType<typeof readBarrel> | null} barrelOf
 */
export function flattenImports(ts, file, text, barrelOf) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false)
  const edits = []
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue
    const spec = st.moduleSpecifier.text
    const clause = st.importClause
    if (!spec.endsWith('/index.js') || !spec.startsWith('.') || clause === undefined || clause.isTypeOnly) continue
    if (clause.name !== undefined || clause.namedBindings === undefined || !ts.isNamedImports(clause.namedBindings))
      continue
    const barrel = barrelOf(sourceOf(path.dirname(file), spec))
    if (barrel === null) continue
    /** @type {Map<string, string[]>} */
    const byFile = new Map()
    const namespaces = []
    const kept = []
    for (const el of clause.namedBindings.elements) {
      if (el.isTypeOnly) continue // erased by the TypeScript loader
      const imported = (el.propertyName ?? el.name).text
      const local = el.name.text
      const target = barrel.names.get(imported)
      if (target === undefined) kept.push(imported === local ? local : `${imported} as ${local}`)
      else if (target.name === null) namespaces.push(`import * as ${local} from '${specifier(file, target.file)}'`)
      else {
        const list = byFile.get(target.file) ?? []
        list.push(target.name === local ? local : `${target.name} as ${local}`)
        byFile.set(target.file, list)
      }
    }
    const lines = [
      ...[...byFile].map(([f, list]) => `import { ${list.join(', ')} } from '${specifier(file, f)}'`),
      ...namespaces
    ]
    if (kept.length > 0) lines.push(`import { ${kept.join(', ')} } from '${spec}'`)
    // An import of types only stays as it was (esbuild erases it either way).
    if (lines.length === 0) continue
    edits.push({ start: st.getStart(sf), end: st.end, text: lines.join('; ') })
  }
  if (edits.length === 0) return null
  let out = text
  for (const e of edits.reverse()) out = out.slice(0, e.start) + e.text + out.slice(e.end)
  return out
}

/**
 * The plugin: every .ts file under `root` outside node_modules is read through flattenImports.
 * @param {string} root the repository
 */
export function flattenBarrels(root) {
  return {
    name: 'conductor-flatten-barrels',
    setup(build) {
      const ts = require('typescript')
      /** @type {Map<string, ReturnType<typeof readBarrel> | null>} */
      const barrels = new Map()
      const barrelOf = indexFile => {
        if (!barrels.has(indexFile)) {
          let b = null
          try {
            b = readBarrel(ts, indexFile)
          } catch {}
          barrels.set(indexFile, b)
        }
        return barrels.get(indexFile)
      }
      const inRoot = `${path.resolve(root)}${path.sep}`
      build.onLoad({ filter: /\.ts$/ }, args => {
        if (!args.path.startsWith(inRoot) || args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined
        const text = readFileSync(args.path, 'utf8')
        if (!text.includes('/index.js')) return undefined
        const out = flattenImports(ts, args.path, text, barrelOf)
        return out === null ? undefined : { contents: out, loader: 'ts' }
      })
    }
  }
}
