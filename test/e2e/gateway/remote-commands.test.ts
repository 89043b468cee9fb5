import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import path from 'node:path'
import { signCommandToken } from '../../../conductor/run/keys.js'
import { postCaddyConfig, startTlsCaddy } from '../../harness/caddy.js'
import { cli, binPath } from '../../harness/cli.js'
import { waitFor } from '../../harness/ports.js'
import { startLoggedGateway } from '../../harness/gateway.js'
import { httpRequest } from '../../harness/http.js'
import { ciAndIntruderKeys, padded, signWithKeyFile } from '../../harness/keys.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// Remote commands end to end over HTTPS: real Caddy (`tls internal` on a loopback port, its
// local CA given to the client) in front of the real gateway, which checks the command's
// policy itself, binds the token to the command, refuses replays and streams the output.

const MIGRATE = `#!/bin/sh
echo "migrate $*" >> migrated.log
echo "step 1"
sleep 1
echo "step 2" >&2
sleep 1
echo "done"
exit 3
`
const SLEEPER = `#!/bin/sh
echo $$ > sleeper.pid
echo started
sleep 30
echo never
`
const RECORD = `#!/bin/sh
echo "$CONDUCTOR_COMMAND $*" >> ran.log
echo ran
`
const STATIC_TOKEN = 'static-command-token-0123456789'

interface Frame {
  stream?: string
  data?: string
  exit?: number
  at: number
}

t.test('remote commands over HTTPS through Caddy and the gateway', async t => {
  const root = tempDir(t, 'cnd-remote-')
  const { ci, intruder: other } = await ciAndIntruderKeys(t, root)
  const svcDir = path.join(root, 'etc/conductor/services/shop')
  writeTree(root, {
    'etc/conductor/services/shop/conductor-service.json': {
      commands: {
        'db:migrate': { service: true, description: 'migrate', exec: ['./migrate.sh'], remote: { policy: 'ops' } },
        console: { service: true, exec: ['./migrate.sh'], remote: { policy: 'ops' } },
        sleeper: {
          service: true,
          exec: ['./sleeper.sh'],
          remote: { policy: 'ops', authorization: 'command:shop:db:migrate' }
        },
        local: { service: true, exec: ['./migrate.sh'] },
        'deploy-only': {
          deployment: true,
          exec: ['./migrate.sh'],
          remote: { policy: 'ops', authorization: 'command:shop:db:migrate' }
        },
        // Same authorization as db:migrate: only the token's command claim tells them apart.
        'db:seed': {
          service: true,
          exec: ['./record.sh'],
          remote: { policy: 'ops', authorization: 'command:shop:db:migrate' }
        },
        'static-run': { service: true, exec: ['./record.sh'], remote: { policy: 'static' } }
      }
    },
    'etc/conductor/services/shop/migrate.sh': MIGRATE,
    'etc/conductor/services/shop/sleeper.sh': SLEEPER,
    'etc/conductor/services/shop/record.sh': RECORD,
    'etc/conductor/policies/ops.json': {
      match: [
        {
          any: [
            {
              meta: { 'peer-id': 'ci' },
              default_authorizations: { 'command:shop:db:migrate': true },
              bearer: [ci.policy_entry]
            }
          ]
        }
      ]
    },
    'etc/conductor/policies/static.json': {
      match: [
        {
          meta: { 'peer-id': 'static' },
          default_authorizations: { 'command:shop:static-run': true },
          bearer: [{ token: STATIC_TOKEN }]
        }
      ]
    }
  })
  const { gwPort, log } = await startLoggedGateway(t, root)

  const { caddy, base, caFile, ca } = await startTlsCaddy(t)

  // `authorization` replaces the header built from the token (odd spellings, repeated headers).
  const post = async (
    urlPath: string,
    token: string | undefined,
    body: unknown = { args: [] },
    onFrame?: (f: Frame, res: IncomingMessage) => void,
    authorization: string | string[] | undefined = token === undefined ? undefined : `Bearer ${token}`
  ): Promise<{ status: number; frames: Frame[]; text: string }> => {
    return await new Promise((resolve, reject) => {
      const payload = typeof body === 'string' ? body : JSON.stringify(body)
      const headers: Record<string, string | string[]> = { 'content-type': 'application/json' }
      if (authorization !== undefined) headers.authorization = authorization
      const req = request(`${base}${urlPath}`, { method: 'POST', ca, agent: false, headers }, res => {
        const frames: Frame[] = []
        let buf = ''
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
          buf += c
          let nl
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl)
            buf = buf.slice(nl + 1)
            if (res.statusCode !== 200 || line === '') continue
            const f = { ...JSON.parse(line), at: Date.now() } as Frame
            frames.push(f)
            onFrame?.(f, res)
          }
        })
        res.on('end', () => resolve({ status: res.statusCode!, frames, text }))
        res.on('close', () => resolve({ status: res.statusCode!, frames, text }))
      })
      req.on('error', reject)
      req.end(payload)
    })
  }
  // The routes as a proxy template would register them: forward_auth to /auth, then the gateway.
  const routes = await cli(['--root', root, 'action', 'caddy-config', 'shop', '--gateway', `127.0.0.1:${gwPort}`])
  t.equal(routes.code, 0, routes.stderr)
  for (const r of JSON.parse(routes.stdout) as Array<{ id: string; config: object }>)
    await postCaddyConfig(`${caddy.adminUrl}/id/${r.id}`, r.config)
  const migrateLog = path.join(svcDir, 'migrated.log')
  const sign = async (
    o: { key?: string; command?: string; now?: Date; ttlSec?: number; audience?: string } = {}
  ): Promise<string> =>
    await signCommandToken({
      privateKeyFile: o.key ?? ci.private_key_file,
      issuer: o.key === undefined ? 'ci' : 'intruder',
      audience: o.audience ?? '127.0.0.1',
      service: 'shop',
      command: o.command ?? 'db:migrate',
      now: o.now,
      ttlSec: o.ttlSec
    })
  const url = '/.conductor/services/shop/commands/db:migrate'

  await t.test('run --list shows which commands are remote', async t => {
    const r = await cli(['--root', root, 'run', '-s', 'shop', '--list', '--json'])
    t.equal(r.code, 0, r.stderr)
    const rows = JSON.parse(r.stdout) as Array<{ name: string; remote: string | null }>
    t.equal(rows.find(x => x.name === 'db:migrate')?.remote, 'ops')
    t.equal(rows.find(x => x.name === 'local')?.remote, null)
    t.match(
      (await cli(['--root', root, 'run', '-s', 'shop', '--list'])).stdout,
      /db:migrate\s+service,remote:ops\s+migrate/
    )
  })

  await t.test('refused, and the command never runs', async t => {
    const cases: Array<[string, string, string | undefined, number]> = [
      ['missing credential', url, undefined, 401],
      ['token for another command', url, await sign({ command: 'console' }), 403],
      ['token for another server (aud)', url, await sign({ audience: 'other.example.org' }), 401],
      ['expired token', url, await sign({ now: new Date(Date.now() - 600_000), ttlSec: 60 }), 401],
      ['key not in the policy', url, await sign({ key: other.private_key_file }), 401],
      [
        'policy does not grant the authorization (command:shop:console)',
        '/.conductor/services/shop/commands/console',
        await sign({ command: 'console' }),
        403
      ],
      [
        'remote commands run in the service context only',
        '/.conductor/services/shop/commands/deploy-only',
        await sign({ command: 'deploy-only' }),
        409
      ]
    ]
    for (const [what, p, token, status] of cases) {
      const r = await post(p, token)
      t.equal(r.status, status, what)
      t.notMatch(r.text, /"exit"/, `${what}: no output frames`)
    }
    const direct = await fetch(`http://127.0.0.1:${gwPort}/.conductor/services/shop/commands/local`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign({ command: 'local' })}`, 'content-type': 'application/json' },
      body: '{"args":[]}'
    })
    t.equal(direct.status, 404, 'a command without remote does not exist for the network (nor has a Caddy route)')
    const noCaddyCheck = await fetch(`http://127.0.0.1:${gwPort}${url}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"args":[]}'
    })
    t.equal(noCaddyCheck.status, 401, 'the gateway checks the policy itself, whatever is in front of it')
    t.notOk(existsSync(migrateLog), 'the command never ran')
    const bad = await post(url, await sign(), { args: 'rm -rf /' })
    t.equal(bad.status, 400, 'args must be an array of strings')
    const many = await post(url, await sign(), { args: Array.from({ length: 300 }, () => 'x') })
    t.equal(many.status, 400, 'bounded argument count')
    t.notOk(existsSync(migrateLog), 'still never ran')
  })

  await t.test('a good token streams the output live, exits with the status, and cannot be replayed', async t => {
    const token = await sign()
    const args = ['--step', '$(touch pwned)', 'a b']
    const r = await post(url, token, { args })
    t.equal(r.status, 200)
    const out = r.frames
      .filter(f => f.stream === 'stdout')
      .map(f => f.data)
      .join('')
    t.equal(out, 'step 1\ndone\n')
    t.same(
      r.frames.filter(f => f.stream === 'stderr').map(f => f.data),
      ['step 2\n'],
      'stderr is its own stream'
    )
    t.equal(r.frames.at(-1)?.exit, 3, 'exit status is the last frame')
    const first = r.frames.find(f => f.data === 'step 1\n')!
    t.ok(
      r.frames.at(-1)!.at - first.at >= 1500,
      `first line arrived ${r.frames.at(-1)!.at - first.at} ms before the end`
    )
    t.equal(
      readFileSync(migrateLog, 'utf8'),
      'migrate --step $(touch pwned) a b\n',
      'arguments are argv entries, never shell code'
    )
    t.notOk(existsSync(path.join(svcDir, 'pwned')))
    const again = await post(url, token)
    t.equal(again.status, 401, 'replayed jti refused')
    t.equal(readFileSync(migrateLog, 'utf8').split('\n').length, 2, 'the replay did not run it')
    const audit = log
      .map(l => JSON.parse(l) as Record<string, unknown>)
      .filter(l => l.audit === 'remote-command' && l.exit !== undefined)
    t.equal(audit.length, 1)
    t.match(audit[0], {
      subject: 'ci',
      peer_id: 'ci',
      service: 'shop',
      command: 'db:migrate',
      exit: 3,
      args_sha256: /^[0-9a-f]{64}$/
    })
    t.ok(typeof audit[0]!.duration_ms === 'number' && (audit[0]!.duration_ms as number) >= 1500)
    t.notOk(log.join('').includes(token.split('.')[2]!), 'the token is never logged')
  })

  await t.test(
    'conductor action run --remote with --ca-file prints the output and exits with the remote status',
    async t => {
      const r = await cli([
        '--root',
        root,
        'action',
        'run',
        'shop',
        'db:migrate',
        'x',
        '--remote',
        base,
        '--key',
        ci.private_key_file,
        '--ca-file',
        caFile
      ])
      t.equal(r.code, 3, r.stderr)
      t.equal(r.stdout, 'step 1\ndone\n')
      t.equal(r.stderr, 'step 2\n')
      const denied = await cli([
        '--root',
        root,
        'action',
        'run',
        'shop',
        'console',
        '--remote',
        base,
        '--key',
        ci.private_key_file,
        '--ca-file',
        caFile
      ])
      t.equal(denied.code, 1)
      t.match(denied.stderr, /remote refused shop console .*HTTP 403/)
      const untrusted = await cli([
        '--root',
        root,
        'action',
        'run',
        'shop',
        'db:migrate',
        '--remote',
        base,
        '--key',
        ci.private_key_file
      ])
      t.equal(untrusted.code, 1, 'without the CA the certificate is not trusted (verification is never disabled)')
      t.match(untrusted.stderr, /cannot reach .*(certificate|self.signed|issuer)/i)
      t.equal(readFileSync(migrateLog, 'utf8').split('\n').length, 3, 'only the good call ran')
    }
  )

  await t.test('the real binary prints each line as it arrives', async t => {
    const child = spawn(
      process.execPath,
      [
        binPath,
        'action',
        'run',
        'shop',
        'db:migrate',
        '--remote',
        base,
        '--key',
        ci.private_key_file,
        '--ca-file',
        caFile
      ],
      { env: { PATH: process.env.PATH, CONDUCTOR_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let firstAt = 0
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      if (firstAt === 0) firstAt = Date.now()
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const code = await new Promise<number | null>(resolve => child.on('close', c => resolve(c)))
    const gap = Date.now() - firstAt
    t.equal(code, 3, stderr)
    t.equal(stdout, 'step 1\ndone\n')
    t.ok(gap >= 1500, `first line printed ${gap} ms before the client exited`)
  })

  await t.test("a client that disconnects kills the command's process group", async t => {
    const pidFile = path.join(svcDir, 'sleeper.pid')
    await post(
      '/.conductor/services/shop/commands/sleeper',
      await sign({ command: 'sleeper' }),
      { args: [] },
      (f, res) => {
        if (f.data === 'started\n') res.destroy()
      }
    )
    const pid = Number(readFileSync(pidFile, 'utf8'))
    await waitFor(
      'the command to be killed',
      () => {
        try {
          process.kill(pid, 0)
          return false
        } catch {
          return true
        }
      },
      10_000
    )
    t.pass(`process ${pid} is gone`)
  })

  await t.test(
    'claims come from the verified token: other spellings of it and unusable claims are refused (issue 13)',
    async t => {
      const ranLog = path.join(svcDir, 'ran.log')
      const ran = (): number =>
        existsSync(ranLog) ? readFileSync(ranLog, 'utf8').split('\n').filter(Boolean).length : 0
      const seed = '/.conductor/services/shop/commands/db:seed'
      const token = await sign({ command: 'db:seed' })
      const first = await post(seed, token)
      t.equal(first.status, 200, 'a good token runs db:seed')
      t.equal(ran(), 1)
      const claims = { iss: 'ci', sub: 'ci', aud: '127.0.0.1', conductor_service: 'shop', conductor_command: 'db:seed' }
      const noJti = await signWithKeyFile(ci.private_key_file, claims)
      const migrateToken = await sign()
      const cases: Array<[string, string, string | string[], number]> = [
        ['replay, two spaces after Bearer', seed, `Bearer  ${token}`, 401],
        ['replay, signature padded with "="', seed, `Bearer ${padded(token)}`, 401],
        ['a db:migrate token on db:seed', seed, `Bearer ${migrateToken}`, 403],
        ['a db:migrate token on db:seed, two spaces', seed, `Bearer  ${migrateToken}`, 401],
        ['a db:migrate token on db:seed, padded', seed, `Bearer ${padded(migrateToken)}`, 401],
        ['a token without jti', seed, `Bearer ${noJti}`, 403],
        ['a token without jti, two spaces', seed, `Bearer  ${noJti}`, 401],
        ['a token without jti, padded', seed, `Bearer ${padded(noJti)}`, 401],
        [
          'conductor_command of another type (array)',
          seed,
          `Bearer ${await signWithKeyFile(ci.private_key_file, { ...claims, conductor_command: ['db:seed'], jti: randomUUID() })}`,
          403
        ],
        [
          'jti of another type (number)',
          seed,
          `Bearer ${await signWithKeyFile(ci.private_key_file, { ...claims, jti: 42 })}`,
          403
        ],
        [
          'a static token its policy accepts: no claims to bind, refused',
          '/.conductor/services/shop/commands/static-run',
          `Bearer ${STATIC_TOKEN}`,
          403
        ]
      ]
      for (const [what, p, authorization, status] of cases) {
        const r = await post(p, undefined, { args: [] }, undefined, authorization)
        t.equal(r.status, status, what)
        t.notMatch(r.text, /"exit"/, `${what}: no output frames`)
      }
      const direct = await fetch(`http://127.0.0.1:${gwPort}${seed}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await signWithKeyFile(ci.private_key_file, claims)}`,
          'content-type': 'application/json'
        },
        body: '{"args":[]}'
      })
      t.equal(direct.status, 403, 'the gateway refuses a token without jti itself, whatever is in front of it')
      const twice = await post(seed, undefined, { args: [] }, undefined, [
        `Bearer ${await sign({ command: 'db:seed' })}`,
        `Bearer ${await sign({ command: 'db:seed' })}`
      ])
      t.equal(twice.status, 400, 'two Authorization headers through Caddy: refused, not decided on the first')
      const twiceDirect = await httpRequest(`http://127.0.0.1:${gwPort}${seed}`, {
        method: 'POST',
        headers: {
          authorization: [`Bearer ${await sign({ command: 'db:seed' })}`, 'Bearer x'],
          'content-type': 'application/json'
        },
        body: '{"args":[]}'
      })
      t.equal(twiceDirect.status, 400, 'and by the gateway itself')
      t.match(JSON.parse(twiceDirect.body), { error: 'CND_HEADER_REPEATED' })
      t.equal(ran(), 1, 'none of them ran the command')
      const audit = log
        .map(l => JSON.parse(l) as Record<string, unknown>)
        .filter(l => l.audit === 'remote-command' && l.command === 'static-run')
      t.match(audit.at(-1), { status: 403, reason: /verified JWT/ }, 'the refusal says why in the log')
    }
  )
})
