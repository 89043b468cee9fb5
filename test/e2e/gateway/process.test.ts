import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { repoRoot } from '../../harness/cli.js'
import { freePort, waitFor } from '../../harness/ports.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// The gateway as its real process (`conductor gateway`): SIGHUP swaps policies atomically and
// a broken file keeps its old version; under load it sheds with 503 + Retry-After and recovers.

const OLD = 'old-token-0123456789abcdef'
const NEW = 'new-token-0123456789abcdef'

t.test('conductor gateway: SIGHUP reload and load shedding', async t => {
  const root = tempDir(t)
  const policies = path.join(root, 'etc/conductor/policies')
  writeTree(root, { 'etc/conductor/policies/p.json': { match: [{ bearer: [{ token: OLD }] }] } })
  const port = await freePort()
  // Utilization above 0.5 counts as pressure here, so a short wrk run is enough to trigger it.
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'conductor/bin.ts'),
      'gateway',
      '--root',
      root,
      '--listen',
      `127.0.0.1:${port}`,
      '--max-event-loop-utilization',
      '0.5',
      '--pressure-sample',
      '50'
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let log = ''
  proc.stdout.on('data', (d: Buffer) => {
    log += d.toString()
  })
  proc.stderr.on('data', (d: Buffer) => {
    log += d.toString()
  })
  t.teardown(async () => {
    if (proc.exitCode !== null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGTERM')
    await exited
  })
  const base = `http://127.0.0.1:${port}`
  // Pressure is set very low here (utilization 0.5 over 50 ms samples), so on a busy machine a
  // single request outside the load section can be shed too: retry those, for a bounded time.
  const status = async (token: string): Promise<number> => {
    const deadline = Date.now() + 10_000
    for (;;) {
      const s = (await fetch(`${base}/auth?policy=p`, { headers: { authorization: `Bearer ${token}` } })).status
      if (s !== 503 || Date.now() > deadline) return s
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  await waitFor(`gateway on ${base} (log: ${log})`, async () => (await fetch(`${base}/healthz`)).ok, 60_000)
  t.equal(await status(OLD), 200, 'initial policy in force')
  let unknown = 503
  await waitFor(
    'an answer that is not shed',
    async () => {
      unknown = (await fetch(`${base}/auth?policy=nope`, { headers: { authorization: `Bearer ${OLD}` } })).status
      return unknown !== 503
    },
    10_000,
    100
  )
  t.equal(unknown, 403, 'unknown policy: 403')
  await waitFor('unknown policy logged', () => log.includes('auth: unknown policy'), 10_000)
  t.match(log, /"policy":"nope".*"status":403/, 'the log line names the policy and the status')

  // A broken file keeps its last good version (gateway-reload.test.ts: the rest reloads).
  writeFileSync(
    path.join(policies, 'p.json'),
    '{ "match": [ { "bearer": [ { "token": "' + NEW + '" } ] } ], "oops": 1 }'
  )
  proc.kill('SIGHUP')
  await waitFor('the kept version logged', () => log.includes('kept at its last good version'), 10_000)
  t.match(log, /p\.json: \/oops: unknown field/, 'the log says which file and path')
  t.equal(await status(OLD), 200, 'old policy still in force after a broken reload')
  t.equal(await status(NEW), 401)

  // Fixed file: the new policy replaces the old one.
  writeFileSync(path.join(policies, 'p.json'), JSON.stringify({ match: [{ bearer: [{ token: NEW }] }] }))
  proc.kill('SIGHUP')
  await waitFor('new policy in force', async () => (await status(NEW)) === 200, 10_000)
  t.equal(await status(OLD), 401, 'old token refused after the reload')

  // Overload: wrk saturates the gateway; a probe sees 503 + Retry-After; then it recovers.
  const wrk = spawn('wrk', ['-t2', '-c64', '-d6s', '-H', `Authorization: Bearer ${NEW}`, `${base}/auth?policy=p`], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let wrkOut = ''
  wrk.stdout.on('data', (d: Buffer) => {
    wrkOut += d.toString()
  })
  const wrkDone = new Promise(resolve => wrk.once('exit', resolve))
  t.teardown(() => {
    if (wrk.exitCode === null) wrk.kill('SIGKILL')
  })
  let shed: Response | undefined
  await waitFor(
    'a 503 while under load',
    async () => {
      const res = await fetch(`${base}/auth?policy=p`, { headers: { authorization: `Bearer ${NEW}` } })
      if (res.status === 503) shed = res
      return shed !== undefined
    },
    6000,
    20
  )
  t.equal(shed?.status, 503, 'shed with 503 under pressure')
  t.match(shed?.headers.get('retry-after'), /^\d+$/, 'with Retry-After')
  await wrkDone
  t.match(wrkOut, /Non-2xx or 3xx responses: \d+/, `wrk saw shed requests too:\n${wrkOut}`)
  await waitFor('recovery after the load stops', async () => (await status(NEW)) === 200, 10_000)
  t.equal(await status(NEW), 200, 'recovered')
  t.notOk(log.includes(OLD) || log.includes(NEW), 'tokens never appear in the gateway log')
  // Shedding is logged as a periodic warning with a count, not an error with a stack per request.
  const shedLines = log.split('\n').filter(l => l.includes('shedding load'))
  t.ok(
    shedLines.length >= 1 && shedLines.length <= 6,
    `about one warning per 5 s while shedding (wrk runs 6 s, recovery up to 10 s) (${shedLines.length} lines)`
  )
  t.match(shedLines[0], /"level":40.*"shed":\d+/, 'at level warn, with the count')
  t.notMatch(log, /FST_UNDER_PRESSURE/, 'no error-level stack per shed request')
})
