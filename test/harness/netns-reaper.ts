import { cleanupRun } from './netns.js'

// Run by the reaper netns.ts spawns for each fleet, once the test process that owned run TAG has
// died without its teardown (SIGKILL, a crash): removes everything the run left. Also usable by
// hand: `node --import tsx test/harness/netns-reaper.ts TAG`.

const tag = process.argv[2] ?? ''
if (!/^cndfleet-\d+-\d+$/.test(tag)) {
  process.stderr.write(`usage: netns-reaper.ts cndfleet-PID-N (got '${tag}')\n`)
  process.exit(2)
}
const problems = cleanupRun(tag)
for (const p of problems) process.stderr.write(`${tag}: ${p}\n`)
process.exit(problems.length === 0 ? 0 : 1)
