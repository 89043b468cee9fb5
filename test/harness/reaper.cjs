'use strict'
// The reaper process of test/harness/reaper.ts (plain CommonJS: it starts without tsx). It reads
// one JSON line per change from its stdin, a pipe from the test process: {"add": ID, "argv": [...],
// "env": {...}} or {"del": ID}. When the pipe closes, the test process has ended, however: a
// teardown that did not run (tap's timeout, SIGTERM, SIGKILL, a crash) left its entries here,
// and they run now, newest first, each to its end (bounded), whatever the others do.
const { spawnSync } = require('node:child_process')

const entries = new Map()
let buffer = ''
let done = false

function handle(line) {
  if (line.trim() === '') return
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    return
  }
  if (msg.add !== undefined && Array.isArray(msg.argv)) entries.set(msg.add, msg)
  else if (msg.del !== undefined) entries.delete(msg.del)
}

function reap() {
  if (done) return
  done = true
  handle(buffer)
  for (const e of [...entries.values()].reverse()) {
    spawnSync(e.argv[0], e.argv.slice(1), { env: e.env ?? process.env, stdio: 'ignore', timeout: 60_000 })
  }
  process.exit(0)
}

// Detached (a session of its own): a terminal's ^C or a hang-up is for the test, not for this.
process.on('SIGINT', () => {})
process.on('SIGHUP', () => {})
process.stdin.setEncoding('utf8')
process.stdin.on('data', chunk => {
  buffer += chunk
  let i = buffer.indexOf('\n')
  while (i >= 0) {
    handle(buffer.slice(0, i))
    buffer = buffer.slice(i + 1)
    i = buffer.indexOf('\n')
  }
})
process.stdin.on('end', reap)
process.stdin.on('error', reap)
