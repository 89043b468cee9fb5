import { z } from 'zod'
import { CGROUP_DIRECTIVES, RLIMIT_DIRECTIVES, functionsSlice, parseFunctionDirectives } from '../../cgi/index.js'
import { MAX_REPLICAS, NAME_PATTERN, PEER_ID_PATTERN } from './defaults.js'
import { resourceUnitsSchema } from './resource-units.js'
import { SOCKET_NAME_PATTERN, parseListen, socketDir } from './sockets.js'

// The zod schema is the single source of truth for conductor-service.json: the TypeScript
// types are inferred from it, `conductor schema` prints its JSON Schema, and the loader
// validates every file with it. Every field is optional at file level because a file may
// only override what it inherits; what a *resolved* service must have is checked after
// inheritance (service-resolve.ts).

const nonEmpty = z.string().min(1, 'must not be empty')
const execArray = z
  .array(z.string())
  .min(1, 'must name at least the program to run')
  .describe(
    'Program and arguments. A relative program path ("./x", "bin/x") is resolved against the directory of the file that declares it; a bare name ("bash") is looked up in PATH.'
  )
const directives = z
  .array(z.string())
  .describe('Extra systemd [Service] directives ("Key=Value") written to a drop-in for this unit.')
// A function has no unit: only what applies to processes the gateway starts is accepted, each
// entry checked here so that a refusal names its file and JSON path (cgi/limits.ts says why).
const keyList = (keys: readonly string[]): string => keys.map(k => k + '=').join(', ')
const functionDirectives = z
  .array(z.string())
  .superRefine((list, ctx) => {
    for (const p of parseFunctionDirectives(list).problems) {
      ctx.addIssue({ code: 'custom', input: list, path: [p.index], message: p.message })
    }
  })
  .describe(
    'Limits ("Key=Value") applied to every process of the function together (its CGI processes, warm ' +
      `workers and daemon): resource control (${keyList(CGROUP_DIRECTIVES)}), properties of a systemd scope the ` +
      `gateway creates for the function (in ${functionsSlice('system')}, or ${functionsSlice('user')} for a user ` +
      `manager), and process limits (${keyList(Object.keys(RLIMIT_DIRECTIVES))}), set in each process before it ` +
      'starts (a hard limit can only be lowered without CAP_SYS_RESOURCE). Anything else (ExecStart=, Restart=, ' +
      "User=...) is refused. Cgroup limits need the gateway to reach a systemd manager (the host's scope); where it " +
      'cannot, the function answers 503 rather than run without them.'
  )

export const HOOK_EVENTS = [
  'pre-start',
  'post-start',
  'pre-stop',
  'post-stop',
  'pre-start-service',
  'post-start-service',
  'pre-stop-service',
  'post-stop-service'
] as const

export const configValueSchema = z
  .union([z.string(), z.number(), z.boolean()])
  .describe('Numbers and booleans are turned into their string form in the environment.')

const probeTiming = {
  interval_ms: z.number().int().min(10).describe('Time between probes (default 200).').optional(),
  timeout_sec: z
    .number()
    .positive()
    .describe('Give up (and keep the old deployment) after this long (default 60).')
    .optional(),
  successes: z.number().int().min(1).describe('Consecutive successful probes needed (default 1).').optional()
}
export const readinessSchema = z
  .union([
    z.strictObject({
      http_path: z.string().startsWith('/').describe('GET this path on 127.0.0.1:PORT; 2xx/3xx is ready.'),
      port: z.string().describe('Named port to probe (default: the first of `ports`).').optional(),
      ...probeTiming
    }),
    z.strictObject({
      exec: execArray.describe('Ready when this program exits 0 (run in the deployment directory with its variables).'),
      ...probeTiming
    })
  ])
  .describe(
    'How `conductor deploy` knows a new deployment is ready for traffic. Default: the first port accepts connections.'
  )

export const podSchema = z
  .strictObject({
    name: z.string().describe('Part name, unique within the service ("" for the single main pod).').optional(),
    pod_template: nonEmpty
      .describe(
        'Executable printing a Kubernetes Pod in YAML for `podman kube play`. Runs in the deployment directory.'
      )
      .optional(),
    config_map_template: nonEmpty.describe('Optional executable printing a ConfigMap for the pod.').optional(),
    service_directives: directives.optional(),
    ports: z
      .array(
        z
          .string()
          .regex(
            /^[a-z][a-z0-9_]*$/,
            'port names use lowercase letters, digits and _ (they become CONDUCTOR_PORT_<NAME>)'
          )
      )
      .describe(
        'Named host ports to allocate for each deployment of this part (free loopback ports, kept until the deployment stops). Exposed as CONDUCTOR_PORT_<NAME> (upper case) and the first one also as CONDUCTOR_PORT; publish them with hostIP 127.0.0.1.'
      )
      .optional(),
    replicas: z
      .number({
        error: issue => `must be an integer from 1 to ${MAX_REPLICAS}, got ${JSON.stringify(issue.input) ?? 'nothing'}`
      })
      .int('must be an integer (a count of deployments)')
      .min(1, 'must be at least 1: remove the part, or disable the service, to run none')
      .max(MAX_REPLICAS, `must be at most ${MAX_REPLICAS}`)
      .describe(
        `How many deployments of this part run side by side (default 1, at most ${MAX_REPLICAS}), each with its own ports and POD_IP_ADDRESS, all behind the same routes: the proxy template runs for each, and the snippets they print with the same @id are registered as one, the upstreams of every replica in its reverse_proxy. \`reload\` converges a changed count; \`deploy\` replaces them all.`
      )
      .optional(),
    sockets: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(
              SOCKET_NAME_PATTERN,
              'socket names use lowercase letters, digits and _ (they become CONDUCTOR_SOCKET_<NAME>)'
            )
            .describe('Socket name, unique in the service: LISTEN_FDNAMES entry and CONDUCTOR_SOCKET_<NAME>.'),
          listen: z
            .string()
            .superRefine((v, ctx) => {
              const l = parseListen(v)
              if (typeof l === 'string') ctx.addIssue({ code: 'custom', input: v, message: l })
            })
            .describe(
              `"unix:${socketDir('SERVICE')}NAME.sock" (under the Conductor root) or "IP:PORT" (e.g. "127.0.0.1:8080").`
            )
        })
      )
      .describe(
        'Listening sockets systemd holds for the service (one conductor-socket@SERVICE.NAME.socket each) and passes ' +
          'to every deployment of this part (socket activation: LISTEN_FDS from fd 3, LISTEN_FDNAMES names them, in no ' +
          'fixed order). They stay open across deploys, so a deploy hands them from the old pod to the new one ' +
          'without refusing a connection. CONDUCTOR_SOCKET_<NAME> is the path or IP:PORT, ' +
          "CONDUCTOR_SOCKET_<NAME>_DIAL Caddy's dial address. Every container of the pod receives them; the pod " +
          'must declare restartPolicy: Never (systemd restarts it, with its sockets).'
      )
      .optional(),
    readiness: readinessSchema.optional(),
    drain_timeout_sec: z
      .number()
      .min(0)
      .describe(
        "`conductor deploy`: longest wait for requests in flight to the old deployment to finish (Caddy's counters) before stopping it. Default 30."
      )
      .optional()
  })
  .describe('A pod part: each part becomes one deployment (or `replicas` of them) when the service starts.')

export const hookSchema = z.strictObject({
  id: nonEmpty.describe('Identifier; an inheriting file replaces or extends the hook with the same id.'),
  when: z
    .enum(HOOK_EVENTS)
    .describe(
      'Life-cycle moment: pre/post-start and pre/post-stop of each deployment, or the *-service variants around the whole service.'
    )
    .optional(),
  exec: execArray.optional(),
  parts: z.array(z.string()).describe('Only for these pod parts (deployment hooks); all parts when absent.').optional(),
  timeout_sec: z
    .number()
    .positive()
    .describe('Kill the hook (whole process group) after this many seconds. Default 60.')
    .optional()
})

export const commandSchema = z.strictObject({
  service: z.boolean().describe('May run in the context of the service (`conductor run -s`).').optional(),
  service_any_deployment: z
    .boolean()
    .describe('Run with `-s` but in the context of any running deployment; fails if none runs.')
    .optional(),
  deployment: z.boolean().describe('May run in the context of a deployment (`conductor run -d`).').optional(),
  description: z.string().describe('One line shown by `conductor run --list`.').optional(),
  exec: execArray.optional(),
  help_flags: z
    .array(z.array(z.string()))
    .describe('Argument lists that only print help, e.g. [["--help"], ["-h"]]: allowed in any context.')
    .optional(),
  help_args: z.array(z.string()).describe("Arguments appended to exec to print the command's help.").optional(),
  interactive: z
    .boolean()
    .describe(
      'Runs under a pseudo-terminal: `conductor action run -it SERVICE NAME` (locally, or with --remote over a WebSocket) gives a working terminal (raw keys, Ctrl-C, window size). A remote interactive command is reachable only with -it, and a non-interactive one only without it.'
    )
    .optional(),
  remote: z
    .strictObject({
      policy: z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must be a policy name (letters, digits, _ . -)')
        .describe('Policy (/etc/conductor/policies/NAME.json) a remote caller must pass.'),
      authorization: z
        .string()
        .min(1)
        .describe('Authorization the policy must grant. Default "command:SERVICE:NAME".')
        .optional(),
      timeout_sec: z
        .number()
        .positive()
        .max(604_800)
        .describe(
          'Longest run of one remote invocation; past it the process group is killed (SIGTERM, SIGKILL 2 s later) and the client gets exit status 124 with reason "timeout". Default 3600.'
        )
        .optional(),
      max_output_bytes: z
        .number()
        .int()
        .min(1)
        .describe(
          'Output one remote invocation may stream (stdout and ' +
            "stderr together; the terminal's bytes for an interactive one); the bytes up to it are sent, then the " +
            'process group is killed (SIGTERM, SIGKILL 2 s later) and the client gets exit status 141 with reason ' +
            '"output-limit". Default 67108864 (64 MiB).'
        )
        .optional()
    })
    .describe(
      'Expose the command (service context) at POST /.conductor/services/SERVICE/commands/NAME on the gateway; run it with `conductor action run SERVICE NAME --remote https://HOST --key FILE`. Without it the command is local only.'
    )
    .optional()
})

export const functionSchema = z.strictObject({
  name: z.string().describe('Function name, unique within the service ("" for the main one).').optional(),
  format: z
    .enum(['cgi', 'http-stdio'])
    .describe('cgi: RFC 3875 CGI. http-stdio: the process speaks HTTP/1.1 on stdin/stdout.')
    .optional(),
  exec: execArray.optional(),
  stderr_as_stdout: z.boolean().describe('Send the process stderr into the response too.').optional(),
  response_headers: z
    .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$/, 'must be "Name: value" on one line'))
    .describe('Headers ("Name: value") added to every response.')
    .optional(),
  no_response_headers: z.boolean().describe('The process prints only a body, no CGI header block.').optional(),
  path_info_strip: z
    .number()
    .int()
    .min(0)
    .describe(
      'Number of leading path segments removed to form PATH_INFO (the rest of the path); they form SCRIPT_NAME. Default: the route\'s own prefix (3 for /.conductor/functions/ID, the literal segments before "*" of route.path).'
    )
    .optional(),
  service_directives: functionDirectives.optional(),
  strip_prefix: z
    .boolean()
    .describe(
      'http-stdio workers and parallel daemons get the request path without its ' +
        "SCRIPT_NAME (the route's prefix, /.conductor/functions/ID or the literal part of route.path, or the " +
        "segments of path_info_strip), as Caddy's handle_path does: /.conductor/functions/ID/a/b?q=1 reaches the " +
        'process as /a/b?q=1, and the removed prefix is in X-Conductor-Script-Name. For unmodified HTTP applications ' +
        'that expect to be served at /. Not for format cgi (a CGI gets SCRIPT_NAME and PATH_INFO). Default false: ' +
        'the process sees the public path.'
    )
    .optional(),
  mode: z
    .enum(['single', 'multi', 'parallel'])
    .describe(
      'single: a process per request (classic CGI). multi (http-stdio only): a worker serves one request at a time and is recycled after max_requests or idle_timeout_sec. parallel: one long-lived process serving HTTP/1.1 on the unix socket named by $CONDUCTOR_FUNCTION_SOCKET, stopped after idle_timeout_sec (scale to zero) and started by the next request. Default single.'
    )
    .optional(),
  min_warm: z
    .number()
    .int()
    .min(0)
    .max(64)
    .describe(
      "Workers kept spawned and waiting (http-stdio single/multi), or 1 to keep the parallel daemon always up (no scale to zero), so a request never pays a cold start. Ignored for format cgi (a CGI process needs its request's environment; the gateway's fork server keeps its start cheap). Default 0."
    )
    .optional(),
  max_workers: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .describe('Requests served at once (processes for single/multi, concurrent requests for parallel). Default 16.')
    .optional(),
  max_queue: z
    .number()
    .int()
    .min(0)
    .max(100_000)
    .describe('Requests waiting for a worker; past it the gateway answers 503 with Retry-After. Default 64.')
    .optional(),
  max_requests: z
    .number()
    .int()
    .min(1)
    .describe('multi: a worker is recycled after this many requests. Default 1000.')
    .optional(),
  idle_timeout_sec: z
    .number()
    .positive()
    .describe(
      'multi: an idle worker above min_warm is stopped after this; parallel: the daemon is stopped (scale to zero). Default 60.'
    )
    .optional(),
  timeout_sec: z
    .number()
    .positive()
    .describe(
      'A request taking longer gets 504 and its process group is killed (parallel: the request is cut, the daemon stays). Default 30.'
    )
    .optional(),
  max_body_bytes: z
    .number()
    .int()
    .min(0)
    .describe('Larger request bodies get 413 before the process sees them. Default 10485760 (10 MiB).')
    .optional(),
  policy: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must be a policy name (letters, digits, _ . -)')
    .describe(
      "Policy (/etc/conductor/policies/NAME.json) a request must pass: Caddy asks the gateway's /auth first, and the gateway checks it again on its own listener. Without a policy the function is PUBLIC."
    )
    .optional(),
  authorization: z
    .string()
    .min(1)
    .describe(
      'Authorization the policy must grant for this function. Default "function:ID" (ID = CONDUCTOR_FUNCTION_ID).'
    )
    .optional(),
  route: z
    .strictObject({
      host: z
        .array(z.string().min(1))
        .min(1)
        .describe('Caddy host matcher values, e.g. ["api.example.org"].')
        .optional(),
      path: z
        .string()
        .regex(/^\/[^\s]*$/, 'must be an absolute path pattern such as "/api/*"')
        .describe('Caddy path matcher, e.g. "/api/*".')
        .optional()
    })
    .describe('Public route in Caddy instead of /.conductor/functions/ID on any host.')
    .optional()
})

// Fleet placement (issue 19, README "Fleet placement"). `best` and `min` are one decision, and so
// are `instances` and `hosts`: an inheriting file that sets `resources` or `fleet` replaces it
// whole (a child giving only `best` means min = best, not the base's min).
export const resourcesSchema = z
  .strictObject({
    best: resourceUnitsSchema
      .describe(
        'Amount of each unit the service should have to run well, ' +
          'e.g. {"vcpu": 2, "ram_gb": 4}. Default: equal to min.'
      )
      .optional(),
    min: resourceUnitsSchema
      .describe(
        'Amount of each unit below which the service cannot run: a machine where the ' +
          'sum of min over its services would exceed its capacity is never chosen. Default: equal to best.'
      )
      .optional()
  })
  .superRefine((r, ctx) => {
    if (r.best === undefined && r.min === undefined) {
      const message =
        'declares neither best nor min: give best, min or both (e.g. {"best": {"vcpu": 1}}), ' + 'or remove "resources"'
      ctx.addIssue({ code: 'custom', input: r, message })
    }
    if (r.best === undefined || r.min === undefined) return
    for (const [unit, min] of Object.entries(r.min)) {
      const best = r.best[unit] ?? 0
      if (min <= best) continue
      const shown = unit in r.best ? best : `0: best does not name ${unit}`
      const message =
        `${min} is above best (${shown}): the minimum cannot exceed the best amount; ` +
        `raise best.${unit} or lower min.${unit}`
      ctx.addIssue({ code: 'custom', input: r, path: ['min', unit], message })
    }
  })
  .describe(
    'Abstract resources the service needs on the machine it runs on, in the units of host.json ' +
      '"resources"; a unit it does not name counts 0. Give best, min or both (one alone: the other equals it). ' +
      'Used by fleet placement (README "Fleet placement").'
  )

export const fleetSchema = z
  .strictObject({
    instances: z
      .number()
      .int()
      .min(1)
      .describe(
        'Copies of the service the scheduler places, each on a different machine. ' +
          'Default 1 (with hosts: its length).'
      )
      .optional(),
    hosts: z
      .array(z.string().regex(PEER_ID_PATTERN, 'must be a peer id (a hostname: letters, digits and _ . -)'))
      .min(1)
      .describe(
        'Manual placement: the peer ids of the machines the service runs on. When set, the scheduler leaves ' +
          'this service where it is told (its resources still count on those machines); without it, the scheduler ' +
          'places `instances` copies by the placement rule.'
      )
      .optional(),
    depends_on: z
      .array(z.string().regex(NAME_PATTERN, 'must be a service name (letters, digits and _ . -)'))
      .describe(
        'Services this one talks to: templates and hooks see where each runs as ' +
          'CONDUCTOR_FLEET_HOSTS_<NAME> and CONDUCTOR_FLEET_ADDRESSES_<NAME>, and its proxy snippets are rendered ' +
          'again when one of them moves (README "Discovery").'
      )
      .optional()
  })
  .superRefine((f, ctx) => {
    const names = new Map<string, string>()
    for (const [i, dep] of (f.depends_on ?? []).entries()) {
      const v = dep.toUpperCase().replace(/[^A-Z0-9]/g, '_')
      const other = names.get(v)
      if (other !== undefined) {
        const message =
          other === dep
            ? `"${dep}" is listed twice`
            : `"${dep}" and "${other}" give the same variable names (_${v}): list one of them`
        ctx.addIssue({ code: 'custom', input: f, path: ['depends_on', i], message })
      }
      names.set(v, dep)
    }
    const seen = new Set<string>()
    for (const [i, host] of (f.hosts ?? []).entries()) {
      const message = `"${host}" is listed twice: a machine runs at most one copy of a service`
      if (seen.has(host)) ctx.addIssue({ code: 'custom', input: f, path: ['hosts', i], message })
      seen.add(host)
    }
    if (f.hosts !== undefined && f.instances !== undefined && f.instances !== f.hosts.length) {
      const message =
        `is ${f.instances} but hosts names ${f.hosts.length} machine(s): with manual placement ` +
        'the copies are the hosts; remove instances or make them agree'
      ctx.addIssue({ code: 'custom', input: f, path: ['instances'], message })
    }
  })
  .describe(
    'Where the service runs in a fleet: on the machines of `hosts` (manual placement), else on ' +
      '`instances` machines chosen by the scheduler (README "Fleet placement").'
  )

const configKey = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits, _)')
  .refine(
    k => !k.startsWith('CONDUCTOR_') && k !== 'POD_NAME' && k !== 'POD_IP_ADDRESS',
    'is reserved for the variables Conductor sets; rename it'
  )

export const serviceFileSchema = z
  .strictObject({
    $schema: z.string().describe('Optional JSON Schema reference for editors; ignored.').optional(),
    inherit: z
      .array(nonEmpty)
      .describe('Base files applied in order before this one; paths relative to this file.')
      .optional(),
    app_name: z.string().describe('Application name (CONDUCTOR_APP).').optional(),
    instance_name: z.string().describe('Instance name, e.g. production, staging (CONDUCTOR_INSTANCE).').optional(),
    disable: z
      .boolean()
      .describe('A disabled service is not started by `conductor reload` (and stopped if it runs).')
      .optional(),
    resources: resourcesSchema.optional(),
    fleet: fleetSchema.optional(),
    config: z
      .record(configKey, configValueSchema)
      .describe('Variables given to templates, hooks, commands and functions. Merged key by key with inherited files.')
      .optional(),
    template_timeout_sec: z
      .number()
      .positive()
      .describe('Kill templates after this many seconds (default 30).')
      .optional(),
    pods: z.array(podSchema).optional(),
    proxy_config_template: nonEmpty
      .describe('Executable printing a JSON array of Caddy snippets {id, config, register_only}.')
      .optional(),
    hooks: z.array(hookSchema).optional(),
    commands: z
      .record(
        z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/, 'command names use letters, digits and _ . : -'),
        commandSchema
      )
      .optional(),
    display_service_config: z
      .array(z.string())
      .describe('Config variables shown as columns by `conductor service ls`.')
      .optional(),
    display_service_deployment_config: z
      .array(z.string())
      .describe('Service config variables shown as columns by `conductor deployment ls`.')
      .optional(),
    display_deployment_config: z
      .array(z.string())
      .describe('Deployment config variables shown as columns by `conductor deployment ls`.')
      .optional(),
    functions: z.array(functionSchema).optional()
  })
  .describe('A Conductor service declaration (conductor-service.json).')

export type ServiceFile = z.infer<typeof serviceFileSchema>
export type PodFile = z.infer<typeof podSchema>
export type HookFile = z.infer<typeof hookSchema>
export type CommandFile = z.infer<typeof commandSchema>
export type FunctionFile = z.infer<typeof functionSchema>

/** JSON Schema for editors (`conductor schema`). */
export function serviceJsonSchema(): unknown {
  return z.toJSONSchema(serviceFileSchema, { target: 'draft-2020-12', io: 'input' })
}
