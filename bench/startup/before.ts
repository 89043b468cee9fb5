import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startUserManager } from '../../test/harness/systemd.js'
import { tempDir, writeTree } from '../../test/harness/tmp.js'

// CLI startup of this build beside another build (BENCH_BEFORE=DIR, a checkout with dist/ built),
// in one run: `--version`, `service ls` and `reload --dry-run` over the same 50 services, plus
// `node -e 0` as the floor. The commands interleave: ROUNDS hyperfine runs of all commands with
// RUNS runs each, so a noisy neighbour slows both builds alike; medians over all runs.
// reload asks systemd, so a real systemd user manager (test/harness) serves both builds.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const before = process.env.BENCH_BEFORE ?? ''
if (before === '') throw new Error('BENCH_BEFORE=DIR (a checkout with dist/ built) is required')
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const RUNS = Number(process.env.RUNS ?? 4)

const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}

async function main(): Promise<void> {
  const loadBefore = loadavg()
  const sd = await startUserManager(t)
  const root = tempDir(t, 'conductor-bench-')
  const files: Record<string, string | object> = {
    'etc/conductor/base/pod.template': '#!/bin/sh\necho "apiVersion: v1"\n',
    'etc/conductor/base/conductor-service.json': {
      app_name: 'bench',
      config: { IMAGE: 'localhost/busybox', TAG: 'v1' },
      pods: [{ name: '', pod_template: './pod.template' }],
      display_service_config: ['TAG']
    }
  }
  for (let i = 1; i <= 50; i++) {
    const n = String(i).padStart(2, '0')
    files[`etc/conductor/services/svc${n}/conductor-service.json`] = {
      inherit: ['../../base/conductor-service.json'],
      instance_name: `i${n}`,
      config: { TAG: `v${n}` }
    }
  }
  writeTree(root, files)
  const env = { ...process.env, ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
  const builds = [
    ['before', path.join(before, 'dist/conductor/bin.js')],
    ['this', path.join(repo, 'dist/conductor/bin.js')]
  ]
  const commands: Array<[string, string]> = [['node -e 0', 'node -e 0']]
  for (const args of ['--version', 'service ls', 'reload --dry-run']) {
    for (const [name, bin] of builds) commands.push([`${name}: ${args}`, `node ${bin!} ${args}`])
  }
  // Both builds must succeed on every command before anything is timed.
  for (const [, cmd] of commands) execFileSync('sh', ['-c', `${cmd} >/dev/null 2>&1`], { env })

  const times: Record<string, number[]> = {}
  // CPU time (user + system, hyperfine's mean per round): less swayed by waiting for a core than wall time.
  const cpu: Record<string, number[]> = {}
  const dir = tempDir(t, 'conductor-bench-')
  for (let round = 0; round < ROUNDS; round++) {
    const json = path.join(dir, `r${round}.json`)
    execFileSync(
      'hyperfine',
      ['-N', '--warmup', '1', '--runs', String(RUNS), '--export-json', json, ...commands.map(([, cmd]) => cmd)],
      { env, stdio: 'ignore' }
    )
    const results = JSON.parse(readFileSync(json, 'utf8')).results as Array<{
      times: number[]
      user: number
      system: number
    }>
    results.forEach((r, i) => {
      ;(times[commands[i]![0]] ??= []).push(...r.times.map(s => s * 1000))
      ;(cpu[commands[i]![0]] ??= []).push((r.user + r.system) * 1000)
    })
  }
  const med = (xs: number[]): number => {
    const s = xs.slice().sort((a, b) => a - b)
    return s[Math.floor(s.length / 2)]!
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, med(v)]))
  const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, med(v)]))
  const floor = m['node -e 0']!
  const lines = [
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ` +
      `${new Date().toISOString().slice(0, 16)}Z; ${ROUNDS} interleaved rounds × ${RUNS} runs per command, ` +
      `load average before: ${loadBefore}, after: ${loadavg()}`,
    '',
    '| command | a15576e median (ms) | this branch median (ms) | this / a15576e | a15576e − floor | this − floor | ' +
      'CPU a15576e (ms) | CPU this (ms) | CPU this / a15576e |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| \`node -e 0\` (floor) | ${floor.toFixed(1)} | ${floor.toFixed(1)} | | | | ${c['node -e 0']!.toFixed(1)} | | |`,
    ...['--version', 'service ls', 'reload --dry-run'].map(a => {
      const b = m[`before: ${a}`]!
      const n = m[`this: ${a}`]!
      const cb = c[`before: ${a}`]!
      const cn = c[`this: ${a}`]!
      return (
        `| \`conductor ${a}\` | ${b.toFixed(1)} | ${n.toFixed(1)} | ${(n / b).toFixed(2)} | ${(b - floor).toFixed(1)} | ` +
        `${(n - floor).toFixed(1)} | ${cb.toFixed(1)} | ${cn.toFixed(1)} | ${(cn / cb).toFixed(2)} |`
      )
    })
  ]
  console.log(lines.join('\n'))
}

function loadavg(): string {
  return os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')
}

try {
  await main()
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
