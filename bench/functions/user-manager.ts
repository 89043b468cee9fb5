import { writeFileSync } from 'node:fs'
import { startUserManager } from '../../test/harness/systemd.js'

// A real systemd user manager for the functions benchmark (the tests' harness: its own cgroup,
// XDG dirs and the shared "booted" marker), so that functions with service_directives get their
// scopes. Writes the variables that reach it (KEY=VALUE lines) to the file given, with the
// manager's pid (BENCH_MANAGER_PID, for CPU accounting), and stops it on SIGTERM or SIGINT.
//   node --import tsx bench/functions/user-manager.ts ENV_FILE

const file = process.argv[2]
if (file === undefined) {
  console.error('usage: user-manager.ts ENV_FILE')
  process.exit(2)
}
const teardowns: Array<() => unknown> = []
const sd = await startUserManager({
  teardown: fn => {
    teardowns.push(fn)
  }
})
const lines = [
  `XDG_RUNTIME_DIR=${sd.runtimeDir}`,
  `XDG_CONFIG_HOME=${sd.configHome}`,
  `BENCH_MANAGER_PID=${sd.process.pid ?? ''}`
]
writeFileSync(file, lines.join('\n') + '\n')
const stop = async (): Promise<void> => {
  for (const fn of teardowns.reverse()) await fn()
  process.exit(0)
}
process.once('SIGTERM', () => {
  void stop()
})
process.once('SIGINT', () => {
  void stop()
})
setInterval(() => {}, 1 << 30)
