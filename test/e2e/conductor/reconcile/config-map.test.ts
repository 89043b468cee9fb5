import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { cli } from '../../../harness/cli.js'
import { waitFor } from '../../../harness/ports.js'
import { httpdPodTemplate } from '../../../harness/reconcile-host.js'
import { podsNamed, removePods, standInCaddyUnit, startUserManager } from '../../../harness/systemd.js'
import { startCaddy } from '../../../harness/caddy.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// A pod part's config_map_template played for real: `reload` renders it in the deployment
// context, the unit plays it with the pod (one kube.yaml), and the container reads the
// ConfigMap both as an environment variable (configMapKeyRef) and as a mounted file. The
// listing shows the display_service_deployment_config (service config) and
// display_deployment_config (deployment variables) columns. Real user manager and Podman.

const svc = `cm${Math.random().toString(36).slice(2, 7)}`

const configMapTemplate = `#!/bin/sh
cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: \${POD_NAME}-settings
data:
  greeting: "\${GREETING} from \${CONDUCTOR_DEPLOYMENT}"
  tier: "\${TIER}"
YAML
`
const podTemplate = httpdPodTemplate('env=\\$FROM_CONFIG_MAP file=\\$(cat /etc/settings/tier)', {
  containerYaml: `      env:
        - name: FROM_CONFIG_MAP
          valueFrom:
            configMapKeyRef:
              name: \${POD_NAME}-settings
              key: greeting
      volumeMounts:
        - name: settings
          mountPath: /etc/settings
`,
  podYaml: `  volumes:
    - name: settings
      configMap:
        name: \${POD_NAME}-settings
`
})

t.test(
  'config_map_template through Podman: the pod reads its ConfigMap; deployment ls shows both display columns',
  async t => {
    const sd = await startUserManager(t)
    standInCaddyUnit(sd)
    t.teardown(() => removePods(svc + '-'))
    const root = tempDir(t, 'conductor-e2e-cm-')
    const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
    writeTree(root, {
      // A real Caddy: `system install` writes the built-in peer functions, whose routes a reload registers.
      'etc/conductor/host.json': { scope: 'user', caddy_admin: `127.0.0.1:${(await startCaddy(t)).adminPort}` },
      [`etc/conductor/services/${svc}/conductor-service.json`]: {
        config: { GREETING: 'hello', TIER: 'gold' },
        pods: [{ pod_template: './pod.template', config_map_template: './config-map.template', ports: ['http'] }],
        display_service_deployment_config: ['TIER'],
        display_deployment_config: ['GREETING', 'CONDUCTOR_PORT']
      },
      [`etc/conductor/services/${svc}/pod.template`]: podTemplate,
      [`etc/conductor/services/${svc}/config-map.template`]: configMapTemplate
    })
    let r = await cli(['system', 'install'], env)
    t.equal(r.code, 0, r.stderr)
    r = await cli(['reload'], env)
    t.equal(r.code, 0, r.stdout + r.stderr)

    r = await cli(['deployment', 'ls', '--json'], env)
    t.equal(r.code, 0, r.stderr)
    const [d] = JSON.parse(r.stdout) as Array<{
      id: string
      unit_state: string
      ports: { http: number }
      columns: Record<string, string>
    }>
    t.ok(d !== undefined, 'one deployment')
    if (d === undefined) return
    t.equal(d.unit_state, 'active')
    const dir = path.join(root, 'var/lib/conductor/deployments', d.id)
    t.match(
      readFileSync(path.join(dir, 'config-map.yaml'), 'utf8'),
      `greeting: "hello from ${d.id}"`,
      'the ConfigMap rendered in the deployment context'
    )
    t.match(
      readFileSync(path.join(dir, 'kube.yaml'), 'utf8'),
      /^kind: ConfigMap\n[\s\S]*\n---\n[\s\S]*kind: Pod\n/m,
      'played with the pod as one YAML stream'
    )

    const page = async (): Promise<string> => {
      try {
        return await (await fetch(`http://127.0.0.1:${d.ports.http}/`)).text()
      } catch {
        return ''
      }
    }
    await waitFor('the pod page', async () => (await page()) !== '', 30_000, 200)
    t.equal(
      (await page()).trim(),
      `env=hello from ${d.id} file=gold`,
      'the container read the ConfigMap: a key as an environment variable, another as a mounted file'
    )

    t.same(
      d.columns,
      { TIER: 'gold', GREETING: 'hello', CONDUCTOR_PORT: String(d.ports.http) },
      'display_service_deployment_config (service config) and display_deployment_config (deployment variables)'
    )
    r = await cli(['deployment', 'ls'], env)
    t.match(r.stdout, /^ID\s+SERVICE\s+PART\s+DESIRED\s+UNIT\s+PORTS\s+TIER\s+GREETING\s+CONDUCTOR_PORT\n/)
    t.match(
      r.stdout,
      new RegExp(
        `\\n${d.id}\\s+${svc}\\s+-\\s+running\\s+active\\s+http=${d.ports.http}\\s+gold\\s+hello\\s+${d.ports.http}\\n`
      )
    )

    r = await cli(['service', 'stop', svc], env)
    t.equal(r.code, 0, r.stdout + r.stderr)
    await waitFor('no pod left', () => podsNamed(svc + '-').length === 0, 30_000, 200)
    t.pass('stopped: the pod is removed')
  }
)
