import type { Service } from '../model/index.js'
import type { ServicePlacement } from '../state/index.js'
import type { ServiceRecord } from './record.js'

// Which hosts run a synced service (issue 18 item 4), until the scheduler (issue 19) decides it:
// the service's own `fleet.hosts` (manual placement, always first), else a scheduler's decision
// when one is given, else the host that pushed it. The scheduler plugs in through `scheduled`.

export function placementOf(
  service: Service | undefined,
  record: ServiceRecord,
  scheduled?: readonly string[]
): ServicePlacement {
  const hosts = service?.fleet?.hosts
  if (hosts !== undefined) return { hosts: [...hosts], source: 'file' }
  if (scheduled !== undefined) return { hosts: [...scheduled], source: 'scheduler' }
  return { hosts: [record.writer], source: 'pusher' }
}
