import t from 'tap'
import { commandTokenBinding } from '../../../gateway/command-token.js'
import type { Decision } from '../../../policies/index.js'

// The binding of a remote command to its token is read from the verified claims only; every
// claim it cannot use refuses (issue 13).

const decision = (claims?: Record<string, unknown>): Decision => ({
  allow: true,
  status: 200,
  policy: 'ops',
  reason: 'matched',
  meta: {},
  authorizations: [],
  claims
})
const good = { iss: 'ci', jti: 'j-1', exp: 2_000_000_000, conductor_service: 'shop', conductor_command: 'db:migrate' }

t.test('a verified token bound to this command: one replay key per (iss, jti), until its exp', async t => {
  t.same(commandTokenBinding(decision(good), 'shop', 'db:migrate'), {
    ok: true,
    replayKey: 'ci\u0000j-1',
    expMs: 2_000_000_000_000
  })
  t.same(commandTokenBinding(decision({ ...good, iss: undefined }), 'shop', 'db:migrate'), {
    ok: true,
    replayKey: '\u0000j-1',
    expMs: 2_000_000_000_000
  })
})

const refused: Array<[string, Record<string, unknown> | undefined, RegExp]> = [
  ['no claims (static token, always, origin)', undefined, /verified JWT/],
  ['another command', { ...good, conductor_command: 'console' }, /another service or command/],
  ['another service', { ...good, conductor_service: 'blog' }, /another service or command/],
  ['no command claim', { ...good, conductor_command: undefined }, /another service or command/],
  ['command claim of another type', { ...good, conductor_command: ['db:migrate'] }, /another service or command/],
  ['no jti', { ...good, jti: undefined }, /jti/],
  ['empty jti', { ...good, jti: '' }, /jti/],
  ['numeric jti', { ...good, jti: 7 }, /jti/],
  ['jti too long', { ...good, jti: 'x'.repeat(257) }, /jti/],
  ['iss of another type', { ...good, iss: ['ci'] }, /iss/],
  ['exp not a number', { ...good, exp: '2000000000' }, /exp/]
]
for (const [what, claims, reason] of refused) {
  t.test(`refused: ${what}`, async t => {
    const b = commandTokenBinding(decision(claims), 'shop', 'db:migrate')
    t.equal(b.ok, false)
    if (!b.ok) t.match(b.reason, reason)
  })
}
