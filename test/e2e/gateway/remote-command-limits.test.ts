import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import path from 'node:path'
import { WebSocket } from 'ws'
import { INTERACTIVE_SUBPROTOCOL } from '../../../conductor/model/index.js'
import { signCommandToken } from '../../../conductor/run/keys.js'
import { postCaddyConfig, startTlsCaddy } from '../../harness/caddy.js'
import { binPath, cli } from '../../harness/cli.js'
import { startLoggedGateway } from '../../harness/gateway.js'
import { ciAndIntruderKeys } from '../../harness/keys.js'
import { freePort, waitFor } from '../../harness/ports.js'
import { groupMembers, isAlive } from '../../harness/procs.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// The bounds of a remote command (issue 16 item 6), through real Caddy (TLS) and the real
// gateway: max_output_bytes (POST and interactive), timeout_sec, and the gateway's stop, each
// killing the command's whole process group: the leader and a child it left in the background.

const MAX = 100_000
// Prints without end; a background child shares its process group.
const LOUD = `#!/bin/sh
sleep 300 &
echo $! > loud$1.child
echo $$ > loud$1.pid
exec yes abcdefghi
`
const SLOW = `#!/bin/sh
sleep 300 &
echo $! > slow$1.child
echo $$ > slow$1.pid
echo started
wait
`

interface Frame {
  stream?: string
  data?: string
  exit?: number
  reason?: string
}

t.test('remote command bounds: output cap, timeout, gateway stop; the whole group goes each time', async t => {
  const root = tempDir(t, 'cnd-remote-limits-')
  const { ci } = await ciAndIntruderKeys(t, root)
  const svcDir = path.join(root, 'etc/conductor/services/shop')
  const remote = { policy: 'ops', authorization: 'shop' }
  writeTree(root, {
    'etc/conductor/services/shop/conductor-service.json': {
      commands: {
        loud: { service: true, exec: ['./loud.sh'], remote: { ...remote, max_output_bytes: MAX } },
        iloud: { service: true, interactive: true, exec: ['./loud.sh'], remote: { ...remote, max_output_bytes: MAX } },
        slow: { service: true, exec: ['./slow.sh'], remote: { ...remote, timeout_sec: 1 } },
        sleeper: { service: true, exec: ['./slow.sh'], remote }
      }
    },
    'etc/conductor/services/shop/loud.sh': LOUD,
    'etc/conductor/services/shop/slow.sh': SLOW,
    'etc/conductor/policies/ops.json': {
      match: [
        { any: [{ meta: { 'peer-id': 'ci' }, default_authorizations: { shop: true }, bearer: [ci.policy_entry] }] }
      ]
    }
  })
  const { gwPort, log } = await startLoggedGateway(t, root)
  const { caddy, base, caFile, ca } = await startTlsCaddy(t)
  const routes = await cli(['--root', root, 'action', 'caddy-config', 'shop', '--gateway', `127.0.0.1:${gwPort}`])
  t.equal(routes.code, 0, routes.stderr)
  for (const r of JSON.parse(routes.stdout) as Array<{ id: string; config: object }>)
    await postCaddyConfig(`${caddy.adminUrl}/id/${r.id}`, r.config)
  const sign = async (command: string): Promise<string> =>
    await signCommandToken({
      privateKeyFile: ci.private_key_file,
      issuer: 'ci',
      audience: '127.0.0.1',
      service: 'shop',
      command
    })
  const pidsOf = (name: string): number[] =>
    ['pid', 'child'].map(k => Number(readFileSync(path.join(svcDir, `${name}.${k}`), 'utf8')))
  const post = async (command: string, args: string[]): Promise<Frame[]> => {
    const token = await sign(command)
    return await new Promise((resolve, reject) => {
      const url = `${base}/.conductor/services/shop/commands/${command}`
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
      const onResponse = (res: IncomingMessage): void => {
        const frames: Frame[] = []
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          buf += c
          let nl
          while ((nl = buf.indexOf('\n')) >= 0) {
            const f = JSON.parse(buf.slice(0, nl)) as Frame
            buf = buf.slice(nl + 1)
            frames.push(f)
          }
        })
        res.on('end', () => resolve(frames))
      }
      const req = request(url, { method: 'POST', ca, agent: false, headers }, onResponse)
      req.on('error', reject)
      req.end(JSON.stringify({ args }))
    })
  }
  const groupGone = async (t: Test, pids: number[]): Promise<void> => {
    await waitFor('the leader and its background child gone', () => pids.every(p => !isAlive(p)), 10_000)
    t.same(groupMembers(pids[0]!), [], 'nothing left in the process group')
  }

  await t.test(
    'POST: max_output_bytes sends exactly that many bytes, then kills the group; the client gets 141 and the reason',
    async t => {
      const frames = await post('loud', ['-post'])
      const out = frames
        .filter(f => f.stream === 'stdout')
        .map(f => f.data)
        .join('')
      t.equal(Buffer.byteLength(out), MAX, `exactly max_output_bytes of output (${Buffer.byteLength(out)})`)
      t.ok(out.startsWith('abcdefghi\nabcdefghi\n'), 'the output itself, from its first byte')
      t.same(frames.at(-1), { exit: 141, reason: 'output-limit' }, 'the last frame names the reason')
      await groupGone(t, pidsOf('loud-post'))
      const audit = log
        .map(l => JSON.parse(l) as Record<string, unknown>)
        .filter(l => l.audit === 'remote-command' && l.command === 'loud')
      t.match(audit.at(-1), { exit: 141, reason: 'output-limit' }, 'the audit line too')
    }
  )

  await t.test('conductor action run --remote: the output up to the cap, the reason on stderr, exit 141', async t => {
    const r = await cli([
      '--root',
      root,
      'action',
      'run',
      'shop',
      'loud',
      '-cli',
      '--remote',
      base,
      '--key',
      ci.private_key_file,
      '--ca-file',
      caFile
    ])
    t.equal(r.code, 141, r.stderr)
    t.equal(Buffer.byteLength(r.stdout), MAX)
    t.match(
      r.stderr,
      /conductor: remote shop loud printed more than its max_output_bytes: its process group was killed/
    )
    await groupGone(t, pidsOf('loud-cli'))
  })

  await t.test('interactive: the terminal bytes up to the cap, then exit 141 with the reason', async t => {
    const ws = new WebSocket(
      `${base.replace('https:', 'wss:')}/.conductor/services/shop/commands/iloud`,
      [INTERACTIVE_SUBPROTOCOL],
      { ca, headers: { authorization: `Bearer ${await sign('iloud')}` } }
    )
    let bytes = 0
    let first = ''
    const controls: string[] = []
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        controls.push(d.toString())
        return
      }
      if (first.length < 40) first += d.toString()
      bytes += d.length
    })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    const closed = new Promise<void>(resolve => ws.once('close', () => resolve()))
    ws.send(JSON.stringify({ type: 'start', args: ['-ws'], cols: 80, rows: 24 }))
    await closed
    t.equal(bytes, MAX, 'exactly max_output_bytes of terminal output')
    t.match(first, /^abcdefghi\r\n/, "the program's output (through the pty)")
    t.same(JSON.parse(controls.at(-1)!), { type: 'exit', code: 141, reason: 'output-limit' })
    await groupGone(t, pidsOf('loud-ws'))
  })

  await t.test('POST: timeout_sec kills the group; the client gets 124 and the reason', async t => {
    const t0 = Date.now()
    const frames = await post('slow', ['-t'])
    t.ok(Date.now() - t0 >= 1000, `ran ${Date.now() - t0} ms: until its timeout`)
    t.equal(
      frames
        .filter(f => f.stream === 'stdout')
        .map(f => f.data)
        .join(''),
      'started\n'
    )
    t.same(frames.at(-1), { exit: 124, reason: 'timeout' })
    await groupGone(t, pidsOf('slow-t'))
  })

  await t.test('conductor gateway (the real process) stopping kills the group of a command still running', async t => {
    const port = await freePort()
    const proc = spawn(
      process.execPath,
      [binPath, 'gateway', '--root', root, '--listen', `127.0.0.1:${port}`, '--metrics-listen', 'none'],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let gwLog = ''
    proc.stdout.on('data', (d: Buffer) => {
      gwLog += d.toString()
    })
    proc.stderr.on('data', (d: Buffer) => {
      gwLog += d.toString()
    })
    const exited = new Promise<number | null>(resolve => proc.once('exit', code => resolve(code)))
    t.teardown(() => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    })
    await waitFor('gateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 30_000)
    const res = await fetch(`http://127.0.0.1:${port}/.conductor/services/shop/commands/sleeper`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign('sleeper')}`, 'content-type': 'application/json' },
      body: '{"args":["-stop"]}'
    })
    t.equal(res.status, 200)
    const body = res.text()
    await waitFor('the command running', () => existsSync(path.join(svcDir, 'slow-stop.pid')), 10_000)
    const pids = pidsOf('slow-stop')
    t.ok(pids.every(isAlive), 'leader and child running')
    proc.kill('SIGTERM')
    t.equal(await exited, 0, `the gateway stopped cleanly${proc.exitCode === 0 ? '' : `: ${gwLog.slice(-500)}`}`)
    t.same(pids.filter(isAlive), [], 'neither the leader nor its child outlived the gateway')
    t.same(groupMembers(pids[0]!), [], 'nothing left in the process group')
    t.match(await body, /\{"exit":143,"reason":"gateway-stopping"\}\n$/)
  })
})
