import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { CATALOGUE, ConductorError, EXIT, isErrorCode, type ErrorCode } from '../../../errors/index.js'
import { Reported } from '../../../conductor/cli/exit.js'
import { repoRoot } from '../../harness/cli.js'

// The error catalogue cannot drift (fastify test/internals/errors.test.js is the model): every
// code is unique and well formed, every error class names a catalogued code, every code the
// source uses is catalogued, every catalogued code is in the README's "Error codes" table with
// its exit code, HTTP status and meaning, and exit codes come from the one table.

const SOURCE_TOPS = ['conductor', 'gateway', 'policies', 'cgi', 'caddy', 'errors']
const CODE = /\bCND_[A-Z0-9_]*[A-Z0-9]\b/g
const codes = Object.keys(CATALOGUE) as ErrorCode[]

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
const files = sourceFiles()
const text = (rel: string): string => readFileSync(path.join(repoRoot, rel), 'utf8')
const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8')

/** The rows of the README table under `heading`, as cells (the first one without its backticks). */
function tableRows(heading: string): string[][] {
  const section = readme.split(`\n${heading}\n`)[1]?.split('\n#')[0] ?? ''
  return section
    .split('\n')
    .filter(l => l.startsWith('|') && !l.startsWith('|---'))
    .slice(1)
    .map(l => {
      const cells = l
        .slice(1, -1)
        .split(' | ')
        .map(c => c.trim())
      return [cells[0]!.replace(/^`|`$/g, ''), ...cells.slice(1)]
    })
}

/** The README table the catalogue gives (printed when the README drifts, to paste in). */
function expectedTable(): string {
  return [
    '| code | exit | HTTP | meaning |',
    '|---|---|---|---|',
    ...codes.map(c => `| \`${c}\` | ${CATALOGUE[c].exit} | ${CATALOGUE[c].http ?? ''} | ${CATALOGUE[c].description} |`)
  ].join('\n')
}

t.test('every code is unique, well formed and described', async t => {
  t.ok(codes.length >= 90, `${codes.length} codes`)
  for (const c of codes) {
    t.match(c, /^CND_[A-Z0-9]+(_[A-Z0-9]+)*$/, `${c}: CND_AREA_WHAT`)
    t.ok(CATALOGUE[c].description.length > 10 && !CATALOGUE[c].description.includes('|'), `${c}: a one-line meaning`)
    t.ok(isErrorCode(c))
  }
  t.equal(new Set(codes).size, codes.length, 'no code twice')
  t.notOk(isErrorCode('CND_NOPE'))
})

t.test('exit codes and HTTP statuses come from the one table', async t => {
  const exits = new Set<number>(Object.values(EXIT))
  for (const c of codes) {
    t.ok(exits.has(CATALOGUE[c].exit), `${c}: exit ${CATALOGUE[c].exit} is in EXIT`)
    const http = CATALOGUE[c].http
    if (http !== undefined) t.ok(http >= 400 && http <= 599, `${c}: HTTP ${http} is an error status`)
  }
  // README "Exit codes": one row per value of EXIT, nothing else.
  const listed = tableRows('### Exit codes').map(r => Number(r[0]))
  t.same(
    listed,
    [...exits].sort((a, b) => a - b),
    'README lists the exit codes'
  )
  // Nothing else decides an exit code: no class overrides exitCode, no command sets process.exitCode.
  for (const f of files) {
    t.notMatch(text(f), /process\.exitCode\s*=/, `${f}: no process.exitCode =`)
    t.notMatch(text(f), /readonly exitCode\s*[=:]/, `${f}: no exitCode of its own`)
  }
})

t.test('every error class names a catalogued code', async t => {
  // Every source file declaring a class that extends another: their exported error classes.
  const classes = new Map<string, abstract new (...args: never[]) => unknown>()
  for (const f of files.filter(f => /export (abstract )?class \w+ extends/.test(text(f)))) {
    const mod = (await import(path.join(repoRoot, f))) as Record<string, unknown>
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value === 'function' && value.prototype instanceof ConductorError)
        classes.set(`${f}:${name}`, value as abstract new (...args: never[]) => unknown)
    }
  }
  t.ok(classes.size >= 70, `${classes.size} error classes`)
  const seen = new Map<string, string>()
  for (const [where, C] of classes) {
    // Reported takes its code as an argument, typed ErrorCode; the others name theirs.
    if (C === Reported) continue
    const err = new (C as new (...args: unknown[]) => ConductorError)('x', 'y', 'z')
    if (err.code === undefined) {
      t.ok(C === ConductorError || C.name === 'PolicyError', `${where}: only the abstract bases have no code`)
      continue
    }
    t.ok(isErrorCode(err.code), `${where}: ${err.code} is in the catalogue`)
    t.equal(err.exitCode, CATALOGUE[err.code].exit, `${where}: exit code from the catalogue`)
    t.equal(err.name, where.split(':')[1], `${where}: name`)
    const other = seen.get(err.code)
    t.equal(other, undefined, `${where}: ${err.code} is no other class's code (${other ?? 'none'})`)
    seen.set(err.code, where)
  }
  t.equal(new Reported('CND_DOCTOR_FAILED').exitCode, EXIT.failure)
})

t.test('every code used in the source is in the catalogue', async t => {
  const used = new Map<string, string>()
  for (const f of files) for (const m of text(f).matchAll(CODE)) if (!used.has(m[0])) used.set(m[0], f)
  t.ok(used.size >= 80, `${used.size} codes used`)
  for (const [c, f] of used) t.ok(isErrorCode(c), `${c} (${f}) is in the catalogue`)
})

t.test('every catalogued code is in the README "Error codes" table, as the catalogue says', async t => {
  const rows = tableRows('### Error codes')
  const documented = rows.map(r => r[0]!)
  t.same(documented, codes, 'one row per code, in catalogue order')
  for (const r of rows) {
    const c = r[0]!
    if (!isErrorCode(c)) continue
    t.same(r.slice(1), [String(CATALOGUE[c].exit), String(CATALOGUE[c].http ?? ''), CATALOGUE[c].description], c)
  }
  if (t.passing() === false) t.comment(`the table from the catalogue:\n${expectedTable()}`)
})
