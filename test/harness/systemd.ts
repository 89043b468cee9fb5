import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { repoRoot } from './cli.js'
import { waitFor } from './ports.js'
import { onDeath } from './reaper.js'
import { tempDir, writeTree } from './tmp.js'

// Starts a REAL systemd user manager (`/lib/systemd/systemd --user`) for one test file, with its
// own XDG_RUNTIME_DIR and XDG_CONFIG_HOME, so `systemctl --user` and Conductor's user scope talk
// to it and nothing else (ENVIRONMENT.md "systemd — a real one, without PID 1"), and its own
// cgroup (scripts/user-manager.sh: started where it stands, a manager takes over every process
// of the cgroup it starts in, here the whole machine, and shares one tree with the manager of
// the test file running beside it).
//
// The manager refuses to run unless /run/systemd/system exists (systemd's "booted" marker). Two
// test files may run at once (tap jobs=2), so the marker is shared: a holders file under /tmp,
// updated under flock, lists the processes that need it; the last one out removes the marker,
// and only if a harness created it (a real systemd host keeps its own).
//
// For the fleet tests, `netns` starts the manager inside a test host's network namespace
// (`nsenter --net=...`, never `ip netns exec`: that remounts /sys and hides /sys/fs/cgroup, and the
// manager never comes up), with the host's own XDG dirs (`env`): its units see only that host's
// interfaces, and `systemctl --user` still reaches it from here through $XDG_RUNTIME_DIR.

const MARKER = '/run/systemd/system'
const USER_MANAGER = path.join(repoRoot, 'scripts/user-manager.sh')
let started = 0
const HOLDERS = '/tmp/conductor-test-systemd-marker.holders'
const LOCK = '/tmp/conductor-test-systemd-marker.lock'

export interface UserManager {
  /** Environment for `systemctl --user` and for Conductor commands (XDG dirs, CONTAINERS_CONF, PATH). */
  env: Record<string, string>
  runtimeDir: string
  configHome: string
  /** $XDG_CONFIG_HOME/systemd/user */
  unitsDir: string
  process: ChildProcess
  systemctl: (...args: string[]) => { code: number; stdout: string; stderr: string }
  stop: () => Promise<void>
}

export const containersConf = path.join(repoRoot, 'test/fixtures/containers.conf')

/**
 * A stand-in caddy.service for tests whose Caddy the test itself runs: units that depend on
 * caddy.service find it, and `system install` neither writes nor starts another Caddy.
 */
export function standInCaddyUnit(sd: UserManager): void {
  writeTree(sd.unitsDir, {
    'caddy.service':
      '[Unit]\nDescription=stand-in: Caddy runs in the test\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n'
  })
}

export interface UserManagerOptions {
  /** A network namespace file (/run/netns/NAME): the manager and its units run in it. */
  netns?: string
  /**
   * The manager's environment, over the defaults; its units inherit it. XDG_RUNTIME_DIR and
   * XDG_CONFIG_HOME given here are used (created if absent) instead of fresh temporary ones.
   */
  env?: Record<string, string>
  /** Name of its cgroup (scripts/user-manager.sh NAME); default conductor-test-PID-N. */
  cgroup?: string
  /**
   * How long it may take to come up (default 15 s). A manager started again with enabled units
   * (a host restarted) is up only once they have started, which takes longer on a busy machine.
   */
  startTimeoutMs?: number
  /** Also take "degraded" (up, some unit failed) as up: the caller checks its own units. */
  degradedOk?: boolean
}

export async function startUserManager(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  opts: UserManagerOptions = {}
): Promise<UserManager> {
  const ownDirs = opts.env?.XDG_RUNTIME_DIR !== undefined && opts.env.XDG_CONFIG_HOME !== undefined
  const base = ownDirs ? undefined : tempDir(t, 'conductor-sd-')
  const runtimeDir = opts.env?.XDG_RUNTIME_DIR ?? path.join(base!, 'runtime')
  const configHome = opts.env?.XDG_CONFIG_HOME ?? path.join(base!, 'config')
  mkdirSync(runtimeDir, { recursive: true })
  chmodSync(runtimeDir, 0o700)
  mkdirSync(path.join(configHome, 'systemd/user'), { recursive: true })
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    CONTAINERS_CONF: containersConf,
    LANG: 'C.UTF-8',
    ...opts.env,
    XDG_RUNTIME_DIR: runtimeDir,
    XDG_CONFIG_HOME: configHome
  }

  acquireMarker()
  // If this process ends without the teardown (tap's timeout, SIGTERM, SIGKILL), the reaper does
  // what stop() does, newest first: units stopped (pods removed, Caddy stopped), whatever is left
  // in the manager's cgroup killed, the marker released in this process's name.
  const reaped = [onDeath(['flock', LOCK, 'sh', '-c', releaseScript(process.pid)])]
  let log = ''
  const cgroup = opts.cgroup ?? `conductor-test-${process.pid}-${++started}`
  const command = opts.netns !== undefined ? ['nsenter', `--net=${opts.netns}`, '--', 'bash'] : ['bash']
  const proc = spawn(command[0]!, [...command.slice(1), USER_MANAGER, 'run', cgroup], {
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  reaped.push(onDeath(['bash', USER_MANAGER, 'cleanup', cgroup], env))
  reaped.push(onDeath(['systemctl', '--user', 'stop', 'conductor-*', 'caddy.service'], env))
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  proc.stderr?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  const systemctl = (...args: string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync('systemctl', ['--user', ...args], { env, encoding: 'utf8', timeout: 30_000 })
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
  }
  // The harness's own waits and stops do not block the event loop: several managers (one per
  // test host) start and stop side by side.
  const systemctlAsync = async (...args: string[]): Promise<string> => await run('systemctl', ['--user', ...args], env)

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    try {
      if (proc.exitCode === null && proc.signalCode === null) {
        // Stop Conductor's units first (their ExecStop removes the pods), then the manager.
        await systemctlAsync('stop', 'conductor-*', 'caddy.service')
        const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
    } finally {
      await run('bash', [USER_MANAGER, 'cleanup', cgroup], env)
      releaseMarker()
      for (const cancel of reaped) cancel()
    }
  }
  t.teardown(stop)
  const up = opts.degradedOk === true ? ['running', 'degraded'] : ['running']
  let state = ''
  try {
    await waitFor(
      'systemd user manager',
      async () => up.includes((state = (await systemctlAsync('is-system-running')).trim())),
      opts.startTimeoutMs ?? 15_000,
      50
    )
  } catch (err) {
    await stop()
    throw new Error(`${(err as Error).message}; last state: ${state}; log: ${log}`)
  }
  return {
    env,
    runtimeDir,
    configHome,
    unitsDir: path.join(configHome, 'systemd/user'),
    process: proc,
    systemctl,
    stop
  }
}

/** Runs a command to its end; its stdout (whatever its exit status). */
async function run(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  return await new Promise(resolve => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: 30_000 }, (_err, stdout) => resolve(stdout ?? ''))
  })
}

/** Pods (by name prefix) still present; tests assert none are left. */
export function podsNamed(prefix: string): string[] {
  const r = spawnSync('podman', ['pod', 'ps', '--format', '{{.Name}}'], {
    env: { ...process.env, CONTAINERS_CONF: containersConf },
    encoding: 'utf8'
  })
  return (r.stdout ?? '').split('\n').filter(n => n.startsWith(prefix))
}

/** Removes pods by name prefix (teardown safety net after a failed test). */
export function removePods(prefix: string): void {
  for (const name of podsNamed(prefix)) {
    spawnSync('podman', ['pod', 'rm', '-f', '-t', '0', name], {
      env: { ...process.env, CONTAINERS_CONF: containersConf }
    })
  }
}

// Marker holders, serialized with flock(1) so two test processes never race. The file lists the
// holders' pids (dead ones are pruned, so a test killed before its teardown cannot pin the
// marker forever) and, on its first line, whether a harness created the marker.
function withLock(script: string): string {
  const r = spawnSync('flock', [LOCK, 'sh', '-c', script], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`marker lock failed: ${r.stderr}`)
  return r.stdout.trim()
}

const PRUNE = `
  created=0; pids=""
  if [ -f ${HOLDERS} ]; then
    created=$(head -n 1 ${HOLDERS})
    for p in $(tail -n +2 ${HOLDERS}); do kill -0 "$p" 2>/dev/null && pids="$pids $p"; done
  fi
`

function acquireMarker(): void {
  withLock(`${PRUNE}
    if [ -z "$pids" ]; then created=0; fi
    if [ ! -d ${MARKER} ]; then mkdir -p ${MARKER}; created=1; fi
    { echo "$created"; for p in $pids ${process.pid}; do echo "$p"; done; } > ${HOLDERS}
  `)
}

function releaseMarker(): void {
  withLock(releaseScript(process.pid))
}

/** Drops PID from the holders (also run by the reaper for a test process that died holding it). */
function releaseScript(pid: number): string {
  return `${PRUNE}
    rest=""; for p in $pids; do [ "$p" != ${pid} ] && rest="$rest $p"; done
    if [ -z "$rest" ]; then
      [ "$created" = 1 ] && rmdir ${MARKER} 2>/dev/null
      rm -f ${HOLDERS}
    else
      { echo "$created"; for p in $rest; do echo "$p"; done; } > ${HOLDERS}
    fi
    true
  `
}

// Kept for tests that want to know whether the marker is present.
export function markerPresent(): boolean {
  try {
    return statSync(MARKER).isDirectory()
  } catch {
    return false
  }
}
