import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { binPath, cli, repoRoot } from '../../../harness/cli.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

const examples = path.join(repoRoot, 'examples/services')

t.test('__complete follows the command tree, options, services and deployments', async t => {
  const root = tempDir(t)
  mkdirSync(path.join(root, 'var/lib/conductor/deployments/hello-mabc123400'), { recursive: true })
  const c = async (...words: string[]): Promise<string[]> =>
    (await cli(['--root', root, '--services-dir', examples, '__complete', '--', ...words])).stdout
      .split('\n')
      .filter(Boolean)
  t.same(await c('serv'), ['service'])
  const serviceSubs = await c('service', '')
  for (const sub of ['check', 'env', 'ls', 'show']) t.ok(serviceSubs.includes(sub), `service ${sub}`)
  t.same(await c('service', 'env', 'hello'), ['hello', 'hello-staging'])
  t.same(await c('service', 'ls', '--j'), ['--json'])
  t.same(await c('completion', ''), [])
  t.notOk((await c('')).includes('__complete'), 'the hidden command is not offered')
  t.ok((await c('')).includes('deployment'))
})

t.test('the bash script completes through a real bash', async t => {
  const bin = tempDir(t)
  writeTree(bin, { conductor: `#!/bin/sh\nexec ${process.execPath} ${binPath} --services-dir ${examples} "$@"\n` })
  const script = (await cli(['completion', 'bash'])).stdout
  const out = execFileSync(
    'bash',
    [
      '-c',
      `${script}\nCOMP_WORDS=(conductor service show hel); COMP_CWORD=3; _conductor_complete; printf '%s\\n' "\${COMPREPLY[@]}"`
    ],
    { env: { PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' }
  )
  t.same(out.trim().split('\n'), ['hello', 'hello-staging'])
  t.match((await cli(['completion', 'zsh'])).stdout, /^#compdef conductor\n/)
  t.equal((await cli(['completion', 'fish'])).code, 2)
})
