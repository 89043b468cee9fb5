import t from 'tap'
import { signCommandToken } from '../../../conductor/run/keys.js'
import { CATALOGUE, type ErrorCode } from '../../../errors/index.js'
import { startLoggedGateway } from '../../harness/gateway.js'
import { httpRequest, type HttpAnswer } from '../../harness/http.js'
import { ciAndIntruderKeys } from '../../harness/keys.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// Every error the real gateway answers has one shape, {"error": CODE, "message"?: text}, with
// the catalogue's status for CODE: its own refusals and Fastify's (no route, a body that does
// not parse, too large, not JSON) alike. /auth's decisions stay empty-bodied (forward_auth).

t.test("gateway error answers: one body shape, the catalogue's status", async t => {
  const root = tempDir(t, 'cnd-errbody-')
  const { ci } = await ciAndIntruderKeys(t, root)
  writeTree(root, {
    'etc/conductor/services/shop/conductor-service.json': {
      commands: { 'db:migrate': { service: true, exec: ['/bin/true'], remote: { policy: 'ops' } } }
    },
    'etc/conductor/policies/ops.json': {
      match: [
        {
          meta: { 'peer-id': 'ci' },
          default_authorizations: { 'command:shop:db:migrate': true },
          bearer: [ci.policy_entry]
        }
      ]
    }
  })
  const { gwPort } = await startLoggedGateway(t, root)
  const base = `http://127.0.0.1:${gwPort}`
  const command = `${base}/.conductor/services/shop/commands/db:migrate`
  // A fresh token per request: each jti is used once, before the body is read.
  const bearer = async (): Promise<string> =>
    'Bearer ' +
    (await signCommandToken({
      privateKeyFile: ci.private_key_file,
      issuer: 'ci',
      audience: '127.0.0.1',
      service: 'shop',
      command: 'db:migrate'
    }))
  const json = 'application/json'

  const expectError = (r: HttpAnswer, code: ErrorCode, message: RegExp | undefined, what: string): void => {
    t.equal(r.status, CATALOGUE[code].http, `${what}: status ${String(CATALOGUE[code].http)}`)
    t.match(r.headers['content-type'], /^application\/json/, `${what}: JSON`)
    const body = JSON.parse(r.body) as Record<string, unknown>
    const keys = message === undefined ? ['error'] : ['error', 'message']
    t.same(Object.keys(body).sort(), keys, `${what}: error and message only`)
    t.equal(body.error, code, `${what}: ${code}`)
    if (message !== undefined) t.match(body.message, message, `${what}: the message`)
  }

  expectError(await httpRequest(`${base}/nowhere?x=1`), 'CND_NOT_FOUND', /^no route GET \/nowhere$/, 'no such route')
  expectError(await httpRequest(`${base}/auth?policy=`), 'CND_BAD_REQUEST', /policy/, '/auth with an empty policy')
  expectError(
    await httpRequest(`${base}/.conductor/functions/nope`),
    'CND_FUNCTION_NOT_FOUND',
    /no such function/,
    'no such function'
  )
  expectError(
    await httpRequest(command, { method: 'POST', headers: { 'content-type': json }, body: '{"args":[]}' }),
    'CND_AUTH_REQUIRED',
    undefined,
    'a command without a credential (the reason stays in the log)'
  )
  expectError(
    await httpRequest(`${base}/.conductor/services/shop/commands/nope`, {
      method: 'POST',
      headers: { 'content-type': json, authorization: await bearer() },
      body: '{"args":[]}'
    }),
    'CND_COMMAND_NOT_FOUND',
    /no remote command "nope"/,
    'no such remote command'
  )

  const post = async (headers: Record<string, string>, body: string): Promise<HttpAnswer> =>
    await httpRequest(command, { method: 'POST', headers: { authorization: await bearer(), ...headers }, body })
  expectError(await post({ 'content-type': json }, '{"args": ['), 'CND_BAD_REQUEST', /JSON/, 'a body that is not JSON')
  expectError(
    await post({ 'content-type': json }, JSON.stringify({ args: ['x'.repeat(70 * 1024)] })),
    'CND_BODY_TOO_LARGE',
    /too large/,
    'a body over 64 KiB'
  )
  expectError(
    await post({ 'content-type': 'application/octet-stream' }, 'hello'),
    'CND_UNSUPPORTED_MEDIA_TYPE',
    /Unsupported Media Type/,
    'a body of a content type no parser takes'
  )
  expectError(
    await post({ 'content-type': json }, '{"args": [1]}'),
    'CND_BAD_ARGS',
    /\/args\/0/,
    'args that are not strings'
  )

  // forward_auth's answers are decisions, not errors: no body at all.
  for (const headers of [{}, { authorization: 'Bearer not-a-token' }] as Array<Record<string, string>>) {
    const denied = await httpRequest(`${base}/auth?policy=ops`, { headers })
    t.equal(denied.status, 401)
    t.equal(denied.headers['content-length'], '0', '/auth denial: content-length 0')
    t.equal(denied.body, '')
  }
})
