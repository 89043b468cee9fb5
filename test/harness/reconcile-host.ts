import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { binPath, repoRoot } from './cli.js'
import { freePort } from './ports.js'
import { removePods, startUserManager, type UserManager } from './systemd.js'
import { tempDir, writeTree } from './tmp.js'

// The host the reconcile e2e tests on systemd share (test/e2e/conductor/reconcile/systemd.test.ts
// and services.test.ts): a real systemd user manager, a Conductor root whose host.json puts the
// Caddy that `system install` declares on loopback ports, and one service SVC (busybox httpd
// printing "$GREETING from $CONDUCTOR_DEPLOYMENT" on its port "http"), with hooks that log to
// HOOK_LOG and three commands. Its pods are removed at the end.

export const HOOKS = [
  'pre-start',
  'post-start',
  'pre-stop',
  'post-stop',
  'pre-start-service',
  'post-start-service',
  'pre-stop-service',
  'post-stop-service'
]

/**
 * A pod template (a script printing the pod's YAML): a Pod named after the deployment
 * (`POD_NAME`) whose spec is SPEC, lines indented under `spec:`, each ending in a newline.
 */
export function podTemplateScript(spec: string): string {
  return `#!/bin/sh
cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: \${POD_NAME}
spec:
${spec}YAML
`
}

/**
 * A pod template: busybox httpd on container port 8080, published on 127.0.0.1 at the port
 * "http", serving an index.html of PAGE (the text of a double-quoted `echo` in the container's
 * shell: \\$ keeps a $ for that shell). `containerYaml` and `podYaml` are more lines of the
 * container (before its ports) and of the pod spec.
 */
export function httpdPodTemplate(
  page: string,
  o: { container?: string; containerYaml?: string; podYaml?: string } = {}
): string {
  return podTemplateScript(`  containers:
    - name: ${o.container ?? 'web'}
      image: localhost/busybox:latest
      command: ["sh", "-c", "mkdir -p /www && echo \\"${page}\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
${o.containerYaml ?? ''}      ports:
        - containerPort: 8080
          hostPort: \${CONDUCTOR_PORT_HTTP}
          hostIP: 127.0.0.1
${o.podYaml ?? ''}`)
}

export const podTemplate = httpdPodTemplate(`\${GREETING} from \${CONDUCTOR_DEPLOYMENT}`, { container: 'httpd' })

const hook = (name: string): string => `#!/bin/sh
echo "${name} \${CONDUCTOR_DEPLOYMENT:-service} \${POD_IP_ADDRESS:+ip}" >> "$HOOK_LOG"
`

export interface ReconcileHost {
  sd: UserManager
  root: string
  svcName: string
  svcDir: string
  hookLog: string
  caddyAdmin: string
  caddyListen: string
  env: Record<string, string>
  /** The service file for GREETING (disabled: `disable: true`). */
  service: (greeting: string, disable?: boolean) => object
}

export async function startReconcileHost(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  o: { svcPrefix: string; hooks: boolean }
): Promise<ReconcileHost> {
  const svcName = `${o.svcPrefix}${Math.random().toString(36).slice(2, 7)}`
  const sd = await startUserManager(t)
  t.teardown(() => removePods(svcName + '-'))
  const root = tempDir(t, 'conductor-e2e-root-')
  const hookLog = path.join(root, 'hooks.log')
  const caddyAdmin = `127.0.0.1:${await freePort()}`
  // Caddy's server on a loopback port (the default, :80 and :443, is for servers).
  const caddyListen = `127.0.0.1:${await freePort()}`
  const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
  const svcDir = path.join(root, 'etc/conductor/services', svcName)
  const hooks = o.hooks ? HOOKS : []
  const service = (greeting: string, disable = false): object => ({
    app_name: 'hello',
    ...(disable ? { disable: true } : {}),
    config: { GREETING: greeting, HOOK_LOG: hookLog },
    pods: [{ name: '', pod_template: './pod.template', ports: ['http'], service_directives: ['TimeoutStopSec=20'] }],
    hooks: hooks.map(when => ({ id: when, when, exec: [`./${when}.hook`], timeout_sec: 10 })),
    commands: {
      where: { service: true, description: 'print the context', exec: ['./where.cmd'] },
      anyd: { service_any_deployment: true, exec: ['./where.cmd'] },
      ind: { deployment: true, exec: ['./where.cmd'], help_flags: [['--help']], help_args: ['HELP'] }
    },
    display_deployment_config: ['GREETING', 'CONDUCTOR_PORT']
  })
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user', caddy_admin: caddyAdmin, caddy_listen: [caddyListen] }
  })
  writeTree(svcDir, {
    'conductor-service.json': service('hello'),
    'pod.template': podTemplate,
    'where.cmd':
      '#!/bin/sh\necho "cmd=$CONDUCTOR_COMMAND dir=$CONDUCTOR_COMMAND_DIR ctx=${CONDUCTOR_DEPLOYMENT:-service} pwd=$(pwd) args=$*"\nexit 7\n',
    ...Object.fromEntries(hooks.map(w => [`${w}.hook`, hook(w)]))
  })
  return { sd, root, svcName, svcDir, hookLog, caddyAdmin, caddyListen, env, service }
}

export interface Rec {
  id: string
  ports: Record<string, number>
  pod_ip: string
}

/** The deployment records under ROOT. */
export function deployments(root: string): Rec[] {
  const dir = path.join(root, 'var/lib/conductor/deployments')
  if (!existsSync(dir)) return []
  return readdirSync(dir).map(id => JSON.parse(readFileSync(path.join(dir, id, 'state.json'), 'utf8')) as Rec)
}

/** The page a pod serves on 127.0.0.1:PORT ('' while it does not answer). */
export async function page(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/`)).text()
  } catch {
    return ''
  }
}

/**
 * Arguments for `node` to run the CLI as a process: the compiled CLI when it is up to date
 * (scripts/test.sh builds first; it starts ~3x faster), else the sources through tsx.
 */
export function cliArgs(): string[] {
  const newest = (dir: string, ext: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter(f => f.endsWith(ext))
        .map(f => statSync(path.join(dir, f)).mtimeMs)
    )
  const fresh =
    existsSync(binPath) &&
    newest(path.join(repoRoot, 'dist/conductor'), '.js') >= newest(path.join(repoRoot, 'conductor'), '.ts')
  return fresh
    ? [binPath]
    : [
        '--import',
        pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href,
        path.join(repoRoot, 'conductor/bin.ts')
      ]
}
