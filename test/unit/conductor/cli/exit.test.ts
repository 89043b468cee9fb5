import t from 'tap'
import { CaddyUnreachable } from '../../../../caddy/index.js'
import { PtySpawnFailed } from '../../../../cgi/index.js'
import { reportError } from '../../../../conductor/cli/program.js'
import { exitWith, ExitStatus, Reported } from '../../../../conductor/cli/exit.js'
import { DeployFailed } from '../../../../conductor/deploy/steps.js'
import { DeployLocked } from '../../../../conductor/state/locks.js'
import {
  FleetInstallLocked,
  HookFailed,
  ReloadLocked,
  ServiceInvalid,
  TemplateTimeout,
  UsageError
} from '../../../../errors/index.js'
import { ListenNotAllowed } from '../../../../gateway/index.js'
import { PolicyInvalid, PolicyNotFound, PolicySyntax } from '../../../../policies/index.js'

// The CLI's one place that turns how a command ended into its exit code (program.ts
// reportError): an error's exit code is its catalogue entry's, whichever folder it comes from.

function report(err: unknown): { code: number; stderr: string } {
  let stderr = ''
  const code = reportError(err, {
    out: () => {},
    err: (s: string) => {
      stderr += s
    }
  } as never)
  return { code, stderr }
}

t.test('every lock error exits 8', async t => {
  t.equal(report(new DeployLocked('another deploy of "web" is running', '/run/conductor/deploy-web.lock')).code, 8)
  t.equal(report(new ReloadLocked('another reload is running')).code, 8)
  t.equal(report(new FleetInstallLocked('another install of "web" is running')).code, 8)
})

t.test('a failed deploy exits 6 (system/deployment), a failed hook 7', async t => {
  t.equal(report(new DeployFailed('new deployment web-x did not become ready')).code, 6)
  t.equal(report(new HookFailed('pre-start hook "migrate" exited 1')).code, 7)
})

t.test('an invalid policy file is invalid input (3) like a service file; no such policy is not found (4)', async t => {
  const file = '/etc/conductor/policies/p.json'
  const policy = report(
    PolicyInvalid.fromProblems([
      { file, jsonPath: '/match/0/bearr', message: 'unknown field; did you mean "bearer"?' },
      { file, jsonPath: '/match/1', message: 'Invalid input' }
    ])
  )
  t.equal(policy.code, 3)
  t.equal(
    policy.stderr,
    `conductor: error: ${file}: /match/0/bearr: unknown field; did you mean "bearer"?\n` +
      `${file}: /match/1: Invalid input\n`,
    'every problem on its own line'
  )
  t.equal(report(new PolicySyntax('line 1 column 2: JSON syntax error: ValueExpected', '/p.json')).code, 3)
  t.equal(report(new ServiceInvalid('unknown field', '/s/conductor-service.json', '/pods')).code, 3)
  t.equal(report(new PolicyNotFound('no policy "nope"')).code, 4)
})

t.test('errors of every folder get their catalogue exit code, with their message', async t => {
  const caddy = report(new CaddyUnreachable('http://127.0.0.1:1', 'ECONNREFUSED'))
  t.equal(caddy.code, 6)
  t.match(caddy.stderr, /^conductor: error: cannot reach the Caddy admin API at http:\/\/127\.0\.0\.1:1 /)
  t.equal(report(new TemplateTimeout('killed after 30 s', '/s/pod.sh')).code, 5)
  t.equal(report(new UsageError('--scope both: expected system or user')).code, 2)
  t.equal(report(new ListenNotAllowed('--listen 0.0.0.0:80: loopback only')).code, 2)
  t.equal(report(new PtySpawnFailed('cannot run ./nope: no such file')).code, 4)
})

t.test("outcomes a command printed itself, and programs' exit statuses", async t => {
  t.same(
    report(new Reported('CND_SERVICE_INVALID')),
    { code: 3, stderr: '' },
    "Reported: the code's exit, nothing printed"
  )
  t.same(report(new Reported('CND_DOCTOR_FAILED')), { code: 1, stderr: '' })
  t.same(report(new ExitStatus(42)), { code: 42, stderr: '' }, "a program's status as it is")
  t.doesNotThrow(() => exitWith(0))
  t.throws(() => exitWith(130), ExitStatus)
  const internal = report(new TypeError('x is undefined'))
  t.equal(internal.code, 1)
  t.match(
    internal.stderr,
    /^conductor: internal error: TypeError: x is undefined\n {4}at /,
    'an unexpected error with its stack'
  )
})
