import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCli } from '../../conductor/cli/program.js'
import { binPath } from '../../test/harness/cli.js'
import { freePort } from '../../test/harness/ports.js'
import { startUserManager, type UserManager } from '../../test/harness/systemd.js'
import { tempDir, writeTree } from '../../test/harness/tmp.js'

// CLI cold start (issue 15 item 2) and a no-op reload as a process (item 4), side by side with
// `node -e 0` in one run: each round runs every command once, in turn, so a load that drifts
// during the run weighs on all of them alike. Prints a markdown table.
//
//   bench/startup/run.sh                        (RUNS=20 by default)
//   BENCH_BEFORE_BIN=/path/to/other/bin.js bench/startup/run.sh   adds the same rows for another build
//
// - `service ls`: 50 services inheriting one base, as in every earlier run of this bench: first
//   on this machine as it is, without systemd (RUNNING shows `?`), then with a real systemd user
//   manager to ask (what a host has). Each phase has its own `node -e 0` row, the base of its ratios.
// - `reload --dry-run` and `reload`: 100 services (no pods) already converged on a real systemd
//   user manager (test/harness/systemd.ts): what an operator's `conductor reload` does when
//   nothing changed. Skipped when no user manager can start (not root, no systemd).
// Every conductor command runs with a validation cache of its own, warmed before measuring (a
// cache shared by two builds would be rewritten by each in turn, and each would load zod).

const RUNS = Number(process.env.RUNS ?? 20)
const SERVICES_LS = 50
const SERVICES_RELOAD = Number(process.env.SERVICES ?? 100)
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}
const silent = {
  out: () => {},
  err: (s: string) => {
    process.stderr.write(s)
  }
}

interface Row {
  label: string
  argv: string[]
  env: NodeJS.ProcessEnv
  goal?: (ms: number, base: number) => string
}

/** CPU time (user + system) of this process's waited-for children, in ms (clock ticks of 10 ms). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 16 and 17 of stat(5) (cutime, cstime) are at 13 and 14 after the command name.
  return (Number(fields[13]) + Number(fields[14])) * 10
}

function serviceTree(): string {
  const dir = tempDir(t, 'cnd-bench-ls-')
  const files: Record<string, object> = {
    'base/conductor-service.json': {
      app_name: 'bench',
      config: { IMAGE: 'localhost/busybox', TAG: 'v1' },
      pods: [{ name: '', pod_template: './pod.template' }],
      hooks: [{ id: 'h', when: 'post-start', exec: ['./hook'] }],
      display_service_config: ['TAG']
    }
  }
  for (let i = 1; i <= SERVICES_LS; i++) {
    const n = String(i).padStart(2, '0')
    files[`services/svc${n}/conductor-service.json`] = {
      inherit: ['../../base/conductor-service.json'],
      instance_name: `i${n}`,
      config: { TAG: `v${n}` }
    }
  }
  writeTree(dir, files)
  return path.join(dir, 'services')
}

async function reloadRoot(sd: UserManager): Promise<NodeJS.ProcessEnv> {
  const root = tempDir(t, 'cnd-bench-reload-')
  const prefix = `bench${Math.random().toString(36).slice(2, 6)}`
  const files: Record<string, string | object> = {
    // The Caddy that services require, on loopback (it would take :80, :443 and localhost:2019).
    'etc/conductor/host.json': {
      caddy_admin: `127.0.0.1:${await freePort()}`,
      caddy_listen: [`127.0.0.1:${await freePort()}`]
    },
    'base/conductor-service.json': { config: { A: '1', B: 'two' }, display_service_config: ['A'] }
  }
  for (let i = 0; i < SERVICES_RELOAD; i++) {
    files[`etc/conductor/services/${prefix}${i}/conductor-service.json`] = {
      inherit: ['../../../../base/conductor-service.json'],
      config: { INDEX: String(i) }
    }
  }
  writeTree(root, files)
  const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
  if ((await runCli(['system', 'install'], silent, env)) !== 0) throw new Error('system install failed')
  if ((await runCli(['reload'], silent, env)) !== 0) throw new Error('the first reload failed')
  let out = ''
  await runCli(
    ['reload'],
    {
      out: s => {
        out += s
      },
      err: silent.err
    },
    env
  )
  if (!out.includes('nothing to do')) throw new Error(`the second reload was not a no-op:\n${out}`)
  return env
}

function canStartUserManager(): boolean {
  return process.getuid?.() === 0 && existsSync('/lib/systemd/systemd')
}

/** Runs the rows interleaved, RUNS rounds; returns the median and minimum wall times and the mean CPU. */
function measure(rows: Row[]): Array<{ median: number; min: number; cpu: number }> {
  // Warm-up: fills each validation cache, the page cache, and checks every command succeeds.
  for (const r of rows) {
    const res = spawnSync(process.execPath, r.argv, { env: { PATH: process.env.PATH, ...r.env }, encoding: 'utf8' })
    if (res.status !== 0) throw new Error(`${r.label} failed (${res.status}): ${res.stderr}`)
  }
  const wall = rows.map(() => [] as number[])
  const cpu = rows.map(() => 0)
  for (let round = 0; round < RUNS; round++) {
    for (let k = 0; k < rows.length; k++) {
      const i = (k + round) % rows.length // a different command first in each round
      const r = rows[i]!
      const cpu0 = childrenCpuMs()
      const t0 = performance.now()
      execFileSync(process.execPath, r.argv, { env: { PATH: process.env.PATH, ...r.env }, stdio: 'ignore' })
      wall[i]!.push(performance.now() - t0)
      cpu[i]! += childrenCpuMs() - cpu0
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return rows.map((_, i) => ({ median: median(wall[i]!), min: Math.min(...wall[i]!), cpu: cpu[i]! / RUNS }))
}

/** Table rows of one phase: each ratio is to that phase's own `node -e 0` (its first row). */
function tableRows(rows: Row[], results: Array<{ median: number; min: number; cpu: number }>): string[] {
  const base = results[0]!
  return rows.map((r, i) => {
    const m = results[i]!
    const cells = [
      r.label,
      m.median.toFixed(0),
      m.min.toFixed(0),
      `${(m.median / base.median).toFixed(2)}×`,
      m.cpu.toFixed(0),
      `${(m.cpu / base.cpu).toFixed(2)}×`,
      r.goal?.(m.median, base.median) ?? ''
    ]
    return `| ${cells.join(' | ')} |`
  })
}

async function main(): Promise<void> {
  const bins: Array<[string, string]> = [['', binPath]]
  const before = process.env.BENCH_BEFORE_BIN
  if (before !== undefined && before !== '') bins.push([' (before)', before])
  const services = serviceTree()
  const caches = bins.map(() => tempDir(t, 'cnd-bench-cache-'))
  const lsGoal = (ms: number, base: number): string => `≤ 2× node -e 0: ${ms <= 2 * base ? 'met' : 'not met'}`
  const node = (tag: string): Row => ({ label: `\`node -e 0\`${tag}`, argv: ['-e', '0'], env: {} })

  // Phase 1, before any systemd manager runs here (a test or bench manager marks the machine as
  // booted with systemd while it runs): what `service ls` does on a host without systemd.
  const plain: Row[] = [node('')]
  bins.forEach(([tag, bin], i) => {
    const env = { CONDUCTOR_CACHE_DIR: caches[i], HOME: os.homedir() }
    plain.push({ label: `\`conductor --version\`${tag}`, argv: [bin, '--version'], env })
    plain.push({
      label: `\`conductor service ls\`, ${SERVICES_LS} services, no systemd${tag}`,
      argv: [bin, '--services-dir', services, 'service', 'ls'],
      env,
      goal: lsGoal
    })
  })
  const lines = tableRows(plain, measure(plain))

  // Phase 2, with a real systemd user manager: the same 50 services with a manager to ask (as on
  // a real host), and a no-op reload of 100 converged services.
  let note = ''
  if (canStartUserManager()) {
    const sd = await startUserManager(t)
    const env = await reloadRoot(sd)
    const reloadGoal = (ms: number): string => `≤ 500 ms: ${ms <= 500 ? 'met' : 'not met'}`
    const managed: Row[] = [node(', with a user manager')]
    bins.forEach(([tag, bin], i) => {
      managed.push({
        label: `\`conductor service ls\`, ${SERVICES_LS} services, user manager${tag}`,
        argv: [bin, '--scope', 'user', '--services-dir', services, 'service', 'ls'],
        env: { ...sd.env, CONDUCTOR_CACHE_DIR: caches[i], HOME: os.homedir() },
        goal: lsGoal
      })
    })
    bins.forEach(([tag, bin], i) => {
      const e = { ...env, CONDUCTOR_CACHE_DIR: caches[i] }
      const n = `${SERVICES_RELOAD} services${tag}`
      managed.push({ label: `\`conductor reload --dry-run\`, ${n}`, argv: [bin, 'reload', '--dry-run'], env: e })
      managed.push({ label: `\`conductor reload\` (no-op), ${n}`, argv: [bin, 'reload'], env: e, goal: reloadGoal })
    })
    lines.push(...tableRows(managed, measure(managed)))
  } else {
    note = '\n(user manager rows skipped: they need root and systemd for a user manager)'
  }

  const load = os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')
  console.log(
    `CLI start: ${new Date().toISOString().slice(0, 16)} UTC, load average ${load} (at the end), ` +
      `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ` +
      `${RUNS} interleaved rounds per phase${note}\n`
  )
  console.log('| command | median (ms) | min (ms) | vs node -e 0 | CPU, mean (ms) | CPU vs node -e 0 | goal |')
  console.log('|---|---|---|---|---|---|---|')
  for (const l of lines) console.log(l)
}

try {
  await main()
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
