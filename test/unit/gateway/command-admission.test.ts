import t from 'tap'
import { commandMaxOutputBytes, commandTimeoutMs } from '../../../gateway/command-admission.js'
import type { Command } from '../../../conductor/model/index.js'

// The bounds of one remote invocation, with their defaults (README "Remote commands").

t.test('timeout_sec and max_output_bytes: declared values, else 1 hour and 64 MiB', async t => {
  const bare: Command = { service: true, exec: ['/bin/true'], remote: { policy: 'ops' } }
  t.equal(commandTimeoutMs(bare), 3600 * 1000, 'default timeout: 3600 s')
  t.equal(commandMaxOutputBytes(bare), 64 * 1024 * 1024, 'default output cap: 64 MiB')
  const set: Command = { ...bare, remote: { policy: 'ops', timeout_sec: 2.5, max_output_bytes: 1000 } }
  t.equal(commandTimeoutMs(set), 2500)
  t.equal(commandMaxOutputBytes(set), 1000)
})
