import { execFile } from 'node:child_process'

// The systemd scope a function with cgroup limits runs in (issue 16 item 4). Its fork server is
// started by `systemd-run --scope` with the function's directives as the scope's properties; a
// child stays in its parent's cgroup, so every process the fork server starts (CGI, warm
// workers, the daemon) is in the scope, under its limits, at no cost per request. Measured here
// (BENCHMARKS.md "Functions"): a `systemd-run --scope` per request instead costs tens of
// milliseconds each, more than the CGI itself.
//
// The scope goes into a slice of its own, away from the gateway's cgroup: a function reaching
// its MemoryMax= or TasksMax= stops there, and neither the gateway nor other functions feel it.
// That slice sits where services do (system.slice, or the user manager's app.slice; a "-" in a
// slice name nests it): under CPU contention a function weighs like one more service, not like
// a top-level slice beside all the system's services together.

/** The manager to ask: the system one (`systemctl`), or the user's (`systemctl --user`). */
export type SystemdManager = 'system' | 'user'

/** Slice of the function scopes: system-conductor-functions.slice in system.slice (app-... in app.slice for user). */
export function functionsSlice(manager: SystemdManager): string {
  return `${manager === 'user' ? 'app' : 'system'}-conductor-functions.slice`
}

export interface ScopeOptions {
  manager: SystemdManager
  /** The function's id (its unit's name and description carry it). */
  id: string
  /** "Key=Value" properties of the scope. */
  properties: readonly string[]
  /** Environment of systemd-run/systemctl (`--user` needs XDG_RUNTIME_DIR). */
  env: NodeJS.ProcessEnv
}

export interface FunctionScope {
  /** The command that runs the fork server in a new scope (the binary and its arguments follow). */
  wrap: () => string[]
  /** Units started so far (one per start of the fork server). */
  units: () => string[]
  /** Kills whatever is still in the scopes (a process that left its process group) and lets them go. */
  stop: () => Promise<void>
}

let scopes = 0

export function functionScope(o: ScopeOptions): FunctionScope {
  const manager = o.manager === 'user' ? ['--user'] : []
  const started: string[] = []
  return {
    wrap: () => {
      // A new name at each start: the scope of a fork server that died may still hold its last
      // requests' processes, and a unit name is taken until its scope is empty.
      const unit = `conductor-function-${o.id}-${process.pid}-${++scopes}.scope`
      started.push(unit)
      return [
        'systemd-run',
        ...manager,
        '--scope',
        '--quiet',
        '--collect',
        `--unit=${unit}`,
        `--slice=${functionsSlice(o.manager)}`,
        `--description=Conductor function ${o.id}`,
        ...o.properties.flatMap(p => ['-p', p]),
        '--'
      ]
    },
    units: () => [...started],
    stop: async () => {
      if (started.length === 0) return
      await new Promise<void>(resolve => {
        // Scopes already gone (emptied and collected) make systemctl fail: nothing to do then.
        const args = [...manager, 'kill', '--signal=SIGKILL', ...started]
        execFile('systemctl', args, { env: o.env, timeout: 10_000 }, () => resolve())
      })
    }
  }
}
