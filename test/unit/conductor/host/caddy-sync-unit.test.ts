import t from 'tap'
import { caddySyncUnitFile, CADDY_SYNC_UNIT } from '../../../../conductor/host/caddy-sync-unit.js'

t.test('the sync unit follows caddy.service and runs caddy sync', async t => {
  t.equal(CADDY_SYNC_UNIT, 'conductor-caddy-sync.service')
  const text = caddySyncUnitFile({ conductor: '/usr/local/bin/conductor' })
  t.match(text, /^PartOf=caddy\.service$/m)
  t.match(text, /^After=caddy\.service$/m)
  t.match(text, /^WantedBy=caddy\.service$/m)
  t.match(text, /^RemainAfterExit=yes$/m, 'stays active so a caddy restart restarts it')
  t.match(text, /^ExecStart=\/usr\/local\/bin\/conductor caddy sync --wait 30$/m)
  t.match(
    caddySyncUnitFile({ conductor: '/opt/c d/conductor', root: '/tmp/r', waitSec: 5 }),
    /^ExecStart="\/opt\/c d\/conductor" --root \/tmp\/r caddy sync --wait 5$/m
  )
})
