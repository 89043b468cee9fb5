// Every file under test/unit/ in one process. tap runs each test file in a process of its own, and
// under the suite's load a process costs 2–5 s before its first test (Node, the TypeScript loader,
// tap's own modules), more than most unit files take to run: 74 files cost 118 s at 2 jobs, one
// process 58 s on one core. The unit files only register subtests on tap's root and set no root
// hooks, so they run here as they do alone; `npx tap test/unit/x.test.ts` still runs one by itself.
// A file that fails to load fails here under its own name instead of ending the process.
// Named to sort before test/e2e/: tap starts files in name order, and this long one started last
// would leave one of its two jobs idle at the end of the suite.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'unit')
const files = (readdirSync(dir, { recursive: true }) as string[])
  .filter(f => f.endsWith('.test.ts'))
  .map(f => f.split(path.sep).join('/'))
  .sort()

for (const file of files) {
  try {
    await import(pathToFileURL(path.join(dir, file)).href)
  } catch (error) {
    t.fail(`test/unit/${file} failed to load`, { error })
  }
}

// A unit file's own t.setTimeout (three set one: 120–240 s, meant for that file alone) resets the
// root's; set after every import, this bound covers all of them together.
t.setTimeout(400_000)
