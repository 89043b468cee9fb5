import path from 'node:path'
import { startCaddy, type CaddyHandle } from './caddy.js'
import { repoRoot } from './cli.js'
import { removePods, standInCaddyUnit, startUserManager, type UserManager } from './systemd.js'
import { tempDir, writeTree } from './tmp.js'

// The host the deploy e2e tests and bench/deploy share: a real systemd user manager, a real
// Caddy (the one units depend on: a stand-in caddy.service), a Conductor root whose host.json
// points at that Caddy, and one service SVC whose pod (test/fixtures/deploy: busybox httpd
// naming $VERSION, a slow CGI, BROKEN=1 never ready) is routed by the fixture proxy template.
// Its pods are removed at the end.

const fixtures = path.join(repoRoot, 'test/fixtures/deploy')

export interface DeployHostOptions {
  svc: string
  /** Prefix of the temporary root. */
  rootPrefix: string
  /** The service's VERSION to begin with. */
  version: string
  /** The pod part's readiness probe and drain timeout. */
  readiness: Record<string, unknown>
  drainTimeoutSec: number
  /** The pod part's `replicas` (absent: not declared). */
  replicas?: number
  /** The proxy template (default: test/fixtures/deploy/proxy.template, one route per deployment). */
  proxyTemplate?: string
}

export async function startDeployHost(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  o: DeployHostOptions
): Promise<{ sd: UserManager; caddy: CaddyHandle; root: string; env: Record<string, string> }> {
  const sd = await startUserManager(t)
  t.teardown(() => removePods(o.svc + '-'))
  const caddy = await startCaddy(t)
  const root = tempDir(t, o.rootPrefix)
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user', caddy_admin: caddy.adminUrl },
    [`etc/conductor/services/${o.svc}/conductor-service.json`]: {
      config: { VERSION: o.version },
      pods: [
        {
          name: '',
          pod_template: path.join(fixtures, 'pod.template'),
          ports: ['http'],
          readiness: o.readiness,
          drain_timeout_sec: o.drainTimeoutSec,
          ...(o.replicas === undefined ? {} : { replicas: o.replicas })
        }
      ],
      proxy_config_template: o.proxyTemplate ?? path.join(fixtures, 'proxy.template')
    }
  })
  standInCaddyUnit(sd)
  return { sd, caddy, root, env: { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user', HOME: root } }
}
