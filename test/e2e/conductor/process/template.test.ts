import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runTemplate } from '../../../../conductor/process/template.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'
import { waitFor } from '../../../harness/ports.js'

// Templates are real executables run as real processes: these tests spawn shell scripts.

function groupMembers(pgid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .map(s => Number(s.trim()))
      .filter(n => n > 0)
  } catch {
    return []
  } // ps exits 1 when nothing matches
}

t.test('a template gets the variables in its environment and as KEY=VALUE arguments, in its directory', async t => {
  const dir = tempDir(t)
  writeTree(dir, { 'tpl.sh': '#!/bin/sh\necho "cwd=$(pwd)"\necho "args=$*"\nenv\n' })
  const out = await runTemplate({
    file: path.join(dir, 'tpl.sh'),
    cwd: dir,
    vars: { PATH: process.env.PATH!, GREETING: 'hi there', CONDUCTOR_APP: 'app' }
  })
  const lines = out.split('\n')
  t.equal(lines[0], `cwd=${dir}`)
  t.equal(lines[1], 'args=PATH=' + process.env.PATH + ' GREETING=hi there CONDUCTOR_APP=app')
  const envKeys = lines
    .slice(2)
    .filter(l => l.includes('='))
    .map(l => l.slice(0, l.indexOf('=')))
  // The shell adds PWD/SHLVL/_ itself, and tap's process-info instrumentation injects
  // NODE_OPTIONS and _TAPJS_* into every child spawned under the test runner (it patches
  // child_process); nothing else of the caller's environment leaks in.
  const injectedByShellOrTap = (k: string): boolean =>
    ['PWD', 'SHLVL', '_', 'OLDPWD', 'NODE_OPTIONS'].includes(k) || k.startsWith('_TAPJS_')
  t.same(envKeys.filter(k => !injectedByShellOrTap(k)).sort(), ['CONDUCTOR_APP', 'GREETING', 'PATH'])
  t.notOk(envKeys.includes('HOME'), 'HOME of the caller is not passed')
})

t.test('a template that never ends is killed with its whole process group, in time', async t => {
  const dir = tempDir(t)
  const pidFile = path.join(dir, 'pid')
  writeTree(dir, { 'hang.sh': `#!/bin/sh\necho $$ > ${pidFile}\nsleep 1000 &\nsleep 1000 | cat &\nwait\n` })
  const started = Date.now()
  await t.rejects(
    runTemplate({ file: path.join(dir, 'hang.sh'), cwd: dir, vars: { PATH: process.env.PATH! }, timeoutSec: 0.5 }),
    { code: 'CND_TEMPLATE_TIMEOUT', message: /did not finish within 0\.5s.*template_timeout_sec/ }
  )
  t.ok(Date.now() - started < 4000, 'gave up within the timeout plus the kill grace')
  const pgid = Number(readFileSync(pidFile, 'utf8'))
  await waitFor('the process group to be gone', () => groupMembers(pgid).length === 0, 3000)
  t.same(groupMembers(pgid), [], 'no process of the template is left')
})

t.test('a template that ignores SIGTERM is SIGKILLed after the grace period', async t => {
  const dir = tempDir(t)
  const pidFile = path.join(dir, 'pid')
  writeTree(dir, { 'stubborn.sh': `#!/bin/sh\ntrap '' TERM\necho $$ > ${pidFile}\nwhile :; do sleep 0.1; done\n` })
  await t.rejects(
    runTemplate({ file: path.join(dir, 'stubborn.sh'), cwd: dir, vars: { PATH: process.env.PATH! }, timeoutSec: 0.3 }),
    { code: 'CND_TEMPLATE_TIMEOUT' }
  )
  const pgid = Number(readFileSync(pidFile, 'utf8'))
  await waitFor('the process group to be gone', () => groupMembers(pgid).length === 0, 3000)
  t.same(groupMembers(pgid), [])
})

t.test('a failing template: the error has its exit status and the tail of its stderr', async t => {
  const dir = tempDir(t)
  writeTree(dir, {
    'fail.sh': '#!/bin/sh\necho "some output"\necho "first problem" >&2\necho "DOCKER_IMAGE is not set" >&2\nexit 3\n'
  })
  await t.rejects(runTemplate({ file: path.join(dir, 'fail.sh'), cwd: dir, vars: { PATH: process.env.PATH! } }), {
    code: 'CND_TEMPLATE_FAILED',
    message:
      /fail\.sh: template exited with status 3\n--- stderr \(last lines\) ---\nfirst problem\nDOCKER_IMAGE is not set$/
  })
})

t.test('a template printing without end is stopped by the output cap', async t => {
  const dir = tempDir(t)
  writeTree(dir, { 'loop.sh': '#!/bin/sh\nwhile :; do echo "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"; done\n' })
  await t.rejects(
    runTemplate({
      file: path.join(dir, 'loop.sh'),
      cwd: dir,
      vars: { PATH: process.env.PATH! },
      maxOutputBytes: 64 * 1024
    }),
    { code: 'CND_TEMPLATE_OUTPUT_TOO_LARGE', message: /more than 65536 bytes/ }
  )
})

t.test('a template that is not executable or missing gets an actionable error', async t => {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'noexec.sh'), 'echo hi\n')
  await t.rejects(runTemplate({ file: path.join(dir, 'noexec.sh'), cwd: dir, vars: {} }), {
    code: 'CND_TEMPLATE_FAILED',
    message: /cannot run template: .*chmod \+x/
  })
  await t.rejects(runTemplate({ file: path.join(dir, 'missing.sh'), cwd: dir, vars: {} }), {
    code: 'CND_TEMPLATE_FAILED',
    message: /missing\.sh: cannot run template/
  })
})
