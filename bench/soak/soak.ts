import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { protectedRoute } from '../../caddy/index.js'
import { postCaddyConfig as post, startCaddy } from '../../test/harness/caddy.js'
import { makeKey, signToken } from '../../test/harness/jwt.js'
import { freePort, waitFor } from '../../test/harness/ports.js'
import { tempDir, writeTree } from '../../test/harness/tmp.js'

// bench/soak (issue 9): wrk sends a mix of five protected requests through Caddy for N minutes;
// the gateway (the compiled CLI, one process) is sampled from /proc every SOAK_SAMPLE_SEC.
// What would show a leak: RSS or fds growing after warm-up, children piling up.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const MINUTES = Number(process.argv[2] ?? '10')
const CONNECTIONS = process.env.SOAK_CONNECTIONS ?? '8'
const SAMPLE_SEC = Number(process.env.SOAK_SAMPLE_SEC ?? '10')
// Warm-up: JIT, pools filling, caches: the first minute (a fifth of shorter runs) is not judged.
const WARMUP_SEC = Math.min(60, (MINUTES * 60) / 5)

const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}

interface Sample {
  sec: number
  rssKiB: number
  fds: number
  children: number
  load: number
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg()
  const root = tempDir(t, 'conductor-soak-')
  const hello = path.join(repo, 'bench/functions/hello.sh')
  const es = makeKey('ES256')
  const token = 'soak-static-token-0123456789abcdef'
  const grants = Object.fromEntries(
    ['read', 'function:soak-single', 'function:soak-multi', 'function:soak-parallel'].map(a => [a, true])
  )
  writeTree(root, {
    'etc/conductor/policies/soak.json': {
      match: [
        {
          any: [
            { meta: { 'peer-id': 'bearer' }, default_authorizations: grants, bearer: [{ token }] },
            {
              meta: { 'peer-id': 'jwt' },
              default_authorizations: grants,
              bearer: [{ public_key: es.pem, audience: 'soak' }]
            }
          ]
        }
      ]
    },
    'etc/conductor/services/soak/conductor-service.json': {
      functions: [
        { name: 'single', exec: [hello], policy: 'soak', max_workers: 32, max_queue: 1024 },
        {
          name: 'multi',
          format: 'http-stdio',
          mode: 'multi',
          min_warm: 2,
          max_workers: 4,
          max_queue: 1024,
          exec: [hello, '--http-stdio'],
          policy: 'soak'
        },
        {
          name: 'parallel',
          mode: 'parallel',
          min_warm: 1,
          max_workers: 16,
          max_queue: 1024,
          exec: [hello, '--daemon'],
          policy: 'soak'
        }
      ]
    }
  })
  const jwt = await signToken(es, { aud: 'soak', exp: Math.floor(Date.now() / 1000) + MINUTES * 60 + 3600 })

  const gwPort = await freePort()
  const gw = spawn(
    process.execPath,
    [
      path.join(repo, 'dist/conductor/bin.js'),
      '--root',
      root,
      'gateway',
      '--listen',
      `127.0.0.1:${gwPort}`,
      '--metrics-listen',
      'none',
      '--log-level',
      'warn'
    ],
    { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] }
  )
  teardowns.push(() => stop(gw))
  await waitFor('gateway', async () => (await fetch(`http://127.0.0.1:${gwPort}/healthz`)).ok, 60_000)

  const caddy = await startCaddy(t)
  const gateway = `127.0.0.1:${gwPort}`
  await post(`${caddy.adminUrl}/config/apps/http/servers/conductor/routes/...`, [
    protectedRoute({
      id: 'auth-bearer',
      path: ['/auth-bearer'],
      gateway,
      policy: 'soak',
      authorization: 'read',
      upstream: { static: { body: 'ok\n' } }
    }),
    protectedRoute({
      id: 'auth-jwt',
      path: ['/auth-jwt'],
      gateway,
      policy: 'soak',
      authorization: 'read',
      upstream: { static: { body: 'ok\n' } }
    })
  ])
  // Function routes exactly as a proxy template gets them.
  for (const id of ['soak-single', 'soak-multi', 'soak-parallel']) {
    const r = spawnSync(
      process.execPath,
      [
        path.join(repo, 'dist/conductor/bin.js'),
        '--root',
        root,
        'function',
        'caddy-config',
        '--id',
        id,
        '--gateway',
        gateway
      ],
      { encoding: 'utf8' }
    )
    if (r.status !== 0) throw new Error(`function caddy-config ${id}: ${r.stderr}`)
    for (const s of JSON.parse(r.stdout) as Array<{ id: string; config: unknown }>)
      await post(`${caddy.adminUrl}/id/${s.id}`, s.config)
  }
  const base = `http://127.0.0.1:${caddy.httpPort}`
  for (const [p, auth] of [
    ['/auth-bearer', token],
    ['/auth-jwt', jwt],
    ['/.conductor/functions/soak-single/', token],
    ['/.conductor/functions/soak-multi/', jwt],
    ['/.conductor/functions/soak-parallel/', token]
  ] as const) {
    const res = await fetch(base + p, { headers: { authorization: `Bearer ${auth}` } })
    if (res.status !== 200) throw new Error(`${p} answers ${res.status}: ${await res.text()}`)
    const anon = await fetch(base + p)
    if (anon.status !== 401) throw new Error(`${p} without a token answers ${anon.status}, expected 401`)
  }

  const pid = gw.pid!
  const samples: Sample[] = []
  const started = Date.now()
  const sample = (): void => {
    samples.push({ sec: Math.round((Date.now() - started) / 1000), ...procSample(pid), load: os.loadavg()[0]! })
  }
  sample()
  const timer = setInterval(sample, SAMPLE_SEC * 1000)
  console.error(
    `soak: ${MINUTES} min of wrk -t2 -c${CONNECTIONS} through Caddy ${base}, gateway pid ${pid}, sampling every ${SAMPLE_SEC} s`
  )
  const out = await wrk([
    '-t2',
    `-c${CONNECTIONS}`,
    `-d${MINUTES * 60}s`,
    '--latency',
    '-s',
    path.join(repo, 'bench/soak/mixed.lua'),
    base,
    '--',
    token,
    jwt
  ])
  clearInterval(timer)
  sample()
  // After the load: nothing kept beyond the warm pools (min_warm) once idle.
  await new Promise(resolve => setTimeout(resolve, 3000))
  const idle = procSample(pid)

  const judged = samples.filter(s => s.sec >= WARMUP_SEC)
  const med = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const first = judged.slice(0, 3)
  const last = judged.slice(-3)
  const growth = (f: (s: Sample) => number): string => {
    const a = med(first.map(f))
    const b = med(last.map(f))
    return `${a} -> ${b} (${(((b - a) / a) * 100).toFixed(1)} %)`
  }
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? '?'
  const total = /(\d+) requests in/.exec(out)?.[1] ?? '?'
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0'
  const sockErr = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none'
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '?'
  const lines = [
    `Soak: ${new Date(started).toISOString().slice(0, 16)}Z, ${MINUTES} min, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, Caddy ${caddyVersion()}; wrk -t2 -c${CONNECTIONS}, 5 kinds of request in turn (forward_auth bearer, forward_auth JWT ES256, CGI single, http-stdio multi, daemon parallel)`,
    `Load average before ${loadBefore.map(l => l.toFixed(1)).join(' ')}, after ${os
      .loadavg()
      .map(l => l.toFixed(1))
      .join(' ')}`,
    `Requests: ${total} (${rps} rps), p99 ${p99}, non-2xx ${non2xx}, socket errors ${sockErr}`,
    '',
    '| t (s) | gateway RSS (MiB) | open fds | child processes | load (1 min) |',
    '|---:|---:|---:|---:|---:|',
    ...samples.map(
      s => `| ${s.sec} | ${(s.rssKiB / 1024).toFixed(1)} | ${s.fds} | ${s.children} | ${s.load.toFixed(1)} |`
    ),
    '',
    `After warm-up (${WARMUP_SEC} s), median of the first 3 vs the last 3 samples: RSS KiB ${growth(s => s.rssKiB)}, fds ${growth(s => s.fds)}, children ${growth(s => s.children)}; target < 5 %`,
    `Peak after warm-up: RSS ${(Math.max(...judged.map(s => s.rssKiB)) / 1024).toFixed(1)} MiB, fds ${Math.max(...judged.map(s => s.fds))}; 3 s after the load: RSS ${(idle.rssKiB / 1024).toFixed(1)} MiB, fds ${idle.fds}, children ${idle.children}`
  ]
  console.log(lines.join('\n'))
}

function procSample(pid: number): { rssKiB: number; fds: number; children: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN)
  const fds = readdirSync(`/proc/${pid}/fd`).length
  let children = 0
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'latin1')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children++
    } catch {
      /* gone */
    }
  }
  return { rssKiB, fds, children }
}

function caddyVersion(): string {
  return spawnSync('caddy', ['version'], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[0] ?? '?'
}

async function wrk(args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] })
    teardowns.push(() => {
      if (p.exitCode === null) p.kill('SIGKILL')
    })
    let out = ''
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    p.on('error', reject)
    p.on('exit', code => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}: ${out}`))))
  })
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return
  const exited = new Promise(resolve => p.once('exit', resolve))
  p.kill('SIGTERM')
  const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

try {
  await main()
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
