import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runBounded } from '../process/index.js'

// `conductor doctor` (issue 9): one line per check, each failure with the fix. Checks are
// plain async functions returning a result, so the command can run them in parallel and new
// areas add theirs to the list.

export interface CheckResult {
  name: string
  ok: boolean
  detail: string
  fix?: string
}
export type Check = () => Promise<CheckResult>

export async function runChecks(checks: Check[]): Promise<CheckResult[]> {
  return await Promise.all(
    checks.map(async check => {
      try {
        return await check()
      } catch (err) {
        return { name: check.name || 'check', ok: false, detail: `check crashed: ${(err as Error).message}` }
      }
    })
  )
}

async function run(
  file: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000
): Promise<{ ok: boolean; out: string }> {
  const r = await runBounded({
    file,
    args,
    cwd: os.tmpdir(),
    env,
    timeoutMs,
    maxOutputBytes: 1024 * 1024,
    stderrTailBytes: 4096
  })
  return { ok: r.exitCode === 0, out: (r.stdout + r.stderrTail + (r.spawnError ?? '')).trim() }
}

/** Podman is installed and can really run a container (the rlimit and cgroup problems of minimal VMs). */
export function podmanCheck(env: Record<string, string>): Check {
  return async function podman() {
    const version = await run('podman', ['version', '--format', '{{.Client.Version}}'], env)
    if (!version.ok)
      return {
        name: 'podman',
        ok: false,
        detail: `podman not usable: ${version.out.slice(0, 300)}`,
        fix: 'apt-get install -y podman runc'
      }
    // Run a container from a throw-away rootfs holding only a static busybox: no image needed,
    // nothing pulled, nothing left in the image store.
    const busybox = ['/bin/busybox', '/usr/bin/busybox'].find(p => existsSync(p))
    if (busybox === undefined)
      return {
        name: 'podman',
        ok: true,
        detail: `podman ${version.out} (run not tried: install busybox-static to test it)`
      }
    const rootfs = mkdtempSync(path.join(os.tmpdir(), 'conductor-doctor-'))
    try {
      mkdirSync(path.join(rootfs, 'bin'))
      copyFileSync(busybox, path.join(rootfs, 'bin/busybox'))
      symlinkSync('busybox', path.join(rootfs, 'bin/true'))
      const r = await run('podman', ['run', '--rm', '--network', 'none', '--rootfs', rootfs, '/bin/true'], env, 60_000)
      if (r.ok) return { name: 'podman', ok: true, detail: `podman ${version.out}, podman run works` }
      return {
        name: 'podman',
        ok: false,
        detail: `podman ${version.out}, podman run fails: ${lastLine(r.out)}`,
        fix: podmanFix(r.out)
      }
    } finally {
      rmSync(rootfs, { recursive: true, force: true })
    }
  }
}

export function podmanFix(output: string): string {
  if (/setrlimit|RLIMIT_NOFILE|setting rlimit/i.test(output))
    return 'the host cannot raise hard rlimits: in containers.conf set [containers] default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
  if (/cgroups in hybrid mode|cgroup.*not supported/.test(output))
    return 'crun does not support cgroups v1 hybrid mode: in containers.conf set [engine] runtime = "runc" and cgroup_manager = "cgroupfs" (apt-get install -y runc)'
  return 'run the podman command by hand to see the full error'
}

/** The systemd manager of the scope answers. */
export function systemdCheck(scope: 'system' | 'user', env: Record<string, string>): Check {
  return async function systemd() {
    const args = scope === 'user' ? ['--user', 'is-system-running'] : ['is-system-running']
    const r = await run('systemctl', args, env)
    // "degraded" still runs units; only an unreachable manager is a failure.
    if (['running', 'degraded', 'starting'].includes(r.out.split('\n')[0] ?? ''))
      return { name: `systemd (${scope})`, ok: true, detail: `systemctl ${args.join(' ')}: ${r.out.split('\n')[0]!}` }
    return {
      name: `systemd (${scope})`,
      ok: false,
      detail: `systemctl ${args.join(' ')}: ${lastLine(r.out) || 'no answer'}`,
      fix:
        scope === 'system'
          ? 'systemd is not PID 1 here: use --scope user (rootless, runs a user manager) or boot with systemd'
          : 'start a user manager: loginctl enable-linger USER where systemd is PID 1; elsewhere systemd --user with XDG_RUNTIME_DIR set, in a cgroup of its own (README "Scopes": started in place it takes over every process of its cgroup)'
    }
  }
}

/** The gateway answers /healthz on its listen address. */
export function gatewayCheck(listen: string): Check {
  return async function gateway() {
    const url = listen.startsWith('unix:') ? undefined : `http://${listen}/healthz`
    if (url === undefined)
      return { name: 'gateway', ok: true, detail: `listens on ${listen} (unix socket: not probed)` }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) })
      return res.ok
        ? { name: 'gateway', ok: true, detail: `${url} -> ${res.status}` }
        : {
            name: 'gateway',
            ok: false,
            detail: `${url} -> ${res.status}`,
            fix: 'see journalctl -u conductor-gateway.service'
          }
    } catch (err) {
      return {
        name: 'gateway',
        ok: false,
        detail: `${url} -> ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`,
        fix: 'start it: systemctl start conductor-gateway.service (or conductor gateway)'
      }
    }
  }
}

/**
 * net.ipv4.tcp_migrate_req = 1: when Caddy applies a config change (every deploy's route
 * switch) it closes its old listening socket; without this sysctl the connections queued on
 * it are reset (bench/deploy/reload-resets.ts: ~250 resets in 200 changes; 0 with it).
 * `procSys` is /proc/sys, a parameter for tests.
 */
export function migrateReqCheck(procSys = '/proc/sys'): Check {
  return async function kernel() {
    const name = 'kernel (deploys)'
    const file = path.join(procSys, 'net/ipv4/tcp_migrate_req')
    const harm =
      "every Caddy config change, such as a deploy's route switch, resets the connections waiting in Caddy's accept queue"
    let value: string
    try {
      value = readFileSync(file, 'utf8').trim()
    } catch {
      return {
        name,
        ok: false,
        detail: `${file} does not exist (Linux < 5.14, or /proc/sys not mounted): ${harm}`,
        fix: 'run Caddy hosts on Linux >= 5.14 and set net.ipv4.tcp_migrate_req=1'
      }
    }
    if (value === '1')
      return {
        name,
        ok: true,
        detail:
          "net.ipv4.tcp_migrate_req=1: connections queued on Caddy's old socket move to the new one at a config change"
      }
    return {
      name,
      ok: false,
      detail: `net.ipv4.tcp_migrate_req=${value}: ${harm}`,
      fix: 'echo net.ipv4.tcp_migrate_req=1 > /etc/sysctl.d/60-conductor-caddy.conf && sysctl --system'
    }
  }
}

function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).at(-1)?.slice(0, 300) ?? ''
}
