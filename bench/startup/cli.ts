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
// - `service ls`: 50 services inheriting one base, as in every earlier run of this bench: no
//   systemd environment, so its one `systemctl list-units` fails at once and RUNNING shows `?`.
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

async function main(): Promise<void> {
  const bins: Array<[string, string]> = [['', binPath]]
  const before = process.env.BENCH_BEFORE_BIN
  if (before !== undefined && before !== '') bins.push([' (before)', before])
  const services = serviceTree()
  const rows: Row[] = [{ label: '`node -e 0`', argv: ['-e', '0'], env: {} }]
  const caches = bins.map(() => tempDir(t, 'cnd-bench-cache-'))
  const lsGoal = (ms: number, base: number): string => `≤ 2× node -e 0: ${ms <= 2 * base ? 'met' : 'not met'}`
  bins.forEach(([tag, bin], i) => {
    const env = { CONDUCTOR_CACHE_DIR: caches[i], HOME: os.homedir() }
    rows.push({ label: `\`conductor --version\`${tag}`, argv: [bin, '--version'], env })
    rows.push({
      label: `\`conductor service ls\`, ${SERVICES_LS} services${tag}`,
      argv: [bin, '--services-dir', services, 'service', 'ls'],
      env,
      goal: lsGoal
    })
  })
  let note = ''
  if (canStartUserManager()) {
    const sd = await startUserManager(t)
    const env = await reloadRoot(sd)
    const reloadGoal = (ms: number): string => `≤ 500 ms: ${ms <= 500 ? 'met' : 'not met'}`
    bins.forEach(([tag, bin], i) => {
      const e = { ...env, CONDUCTOR_CACHE_DIR: caches[i] }
      const n = `${SERVICES_RELOAD} services${tag}`
      rows.push({ label: `\`conductor reload --dry-run\`, ${n}`, argv: [bin, 'reload', '--dry-run'], env: e })
      rows.push({ label: `\`conductor reload\` (no-op), ${n}`, argv: [bin, 'reload'], env: e, goal: reloadGoal })
    })
  } else {
    note = '\n(reload rows skipped: they need root and systemd for a user manager)'
  }

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
  const base = median(wall[0]!)
  const baseCpu = cpu[0]! / RUNS
  const load = os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')
  console.log(
    `CLI start: ${new Date().toISOString().slice(0, 16)} UTC, load average ${load} (at the end), ` +
      `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ` +
      `${RUNS} interleaved rounds${note}\n`
  )
  console.log('| command | median (ms) | min (ms) | vs node -e 0 | CPU, mean (ms) | CPU vs node -e 0 | goal |')
  console.log('|---|---|---|---|---|---|---|')
  rows.forEach((r, i) => {
    const m = median(wall[i]!)
    const c = cpu[i]! / RUNS
    const cells = [
      r.label,
      m.toFixed(0),
      Math.min(...wall[i]!).toFixed(0),
      `${(m / base).toFixed(2)}×`,
      c.toFixed(0),
      `${(c / baseCpu).toFixed(2)}×`,
      r.goal?.(m, base) ?? ''
    ]
    console.log(`| ${cells.join(' | ')} |`)
  })
}

try {
  await main()
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
