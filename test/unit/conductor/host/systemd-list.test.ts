import t from 'tap'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { systemdDriver } from '../../../../conductor/host/index.js'

// The system scope's listing on a machine systemd did not boot: the driver says so itself, as
// systemctl would after a fork and its own start (sd_booted: no /run/systemd/system). No
// systemctl on PATH here: an answer that needed one would fail differently.

const noSystemctl = { PATH: '/nonexistent' }

t.test('system scope, not booted with systemd: the reason and the fix, without running systemctl', async t => {
  const marker = path.join(t.testdir(), 'no-such-dir')
  await t.rejects(systemdDriver([], noSystemctl, marker).list(['conductor-*']), {
    code: 'CND_SYSTEMD_FAILED',
    message: `this machine was not booted with systemd (no ${marker}): there is no system manager to ask; on such a host use --scope user with a systemd user manager`
  })
})

t.test('booted: the listing goes on to the manager (here systemctl, which is missing)', async t => {
  const marker = path.join(t.testdir(), 'system')
  mkdirSync(marker)
  await t.rejects(systemdDriver([], noSystemctl, marker).list(['conductor-*']), /systemctl list-units .* failed/)
})
