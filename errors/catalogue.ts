// The one catalogue of error codes (fastify lib/errors.js is the model): every code Conductor
// gives, the CLI's exit code for it, the HTTP status where the gateway answers with it, and one
// line saying what it means. Classes name a code; their exit code and status are read from here,
// so the CLI, the gateway and the README ("Error codes", checked by
// test/unit/errors/catalogue.test.ts) cannot drift apart.

/** Exit codes of the CLI, one table (README "Exit codes"); every catalogue entry uses one of them. */
export const EXIT = {
  ok: 0,
  /** A runtime failure that is none of the below. */
  failure: 1,
  usage: 2,
  /** A service, policy, host or hosts file (or an archive) that cannot be used. */
  invalidInput: 3,
  notFound: 4,
  template: 5,
  /** systemd, a deployment, a deploy, or Caddy (unreachable, refused a change) failed. */
  system: 6,
  hook: 7,
  /** Another process holds the lock (reload, deploy, fleet install). */
  locked: 8
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export interface CatalogueEntry {
  /** Exit code of a CLI command that ends with this error. */
  readonly exit: ExitCode
  /** HTTP status of a gateway answer with this code (absent: the code never goes over HTTP). */
  readonly http?: number
  /** What happened, in one line (the README's "Error codes" table). */
  readonly description: string
}

const { failure, usage, invalidInput, notFound, template, system, hook, locked } = EXIT

const ENTRIES = {
  // General
  CND_USAGE: {
    exit: usage,
    description: 'bad command-line usage: an unknown option value, a missing or conflicting argument'
  },
  CND_INTERNAL: {
    exit: failure,
    http: 500,
    description: 'an unexpected failure inside Conductor; the log has the details'
  },

  // Service files, host.json, templates (conductor/model, conductor/process)
  CND_SERVICE_INVALID: {
    exit: invalidInput,
    description: 'a service file cannot be read or validated; every problem as FILE: /json/path: reason'
  },
  CND_SERVICE_SYNTAX: {
    exit: invalidInput,
    description: 'a service file is not JSON (comments allowed), with line and column'
  },
  CND_SERVICE_INHERIT_MISSING: {
    exit: invalidInput,
    description: 'an `inherit` entry names a file that does not exist'
  },
  CND_SERVICE_INHERIT_CYCLE: { exit: invalidInput, description: '`inherit` entries form a cycle' },
  CND_SERVICE_NOT_FOUND: { exit: notFound, description: 'no service of that name in the services directory' },
  CND_PART_NOT_FOUND: { exit: notFound, description: 'a pod part or template kind the service does not declare' },
  CND_HOST_INVALID: { exit: invalidInput, description: 'host.json cannot be read or validated' },
  CND_HOST_SYNTAX: {
    exit: invalidInput,
    description: 'host.json is not JSON (comments allowed), with line and column'
  },
  CND_TEMPLATE_FAILED: { exit: template, description: 'a template exited non-zero' },
  CND_TEMPLATE_TIMEOUT: { exit: template, description: 'a template ran past its timeout and was killed' },
  CND_TEMPLATE_OUTPUT_TOO_LARGE: { exit: template, description: 'a template printed more than the output limit' },
  CND_TEMPLATE_POD_UNMARKABLE: {
    exit: template,
    description: 'a pod template printed no Pod Conductor can label (block-style YAML or JSON needed)'
  },

  // Reconciliation, deployments, deploys, hooks (conductor/reconcile, conductor/deploy, conductor/state)
  CND_SYSTEMD_FAILED: {
    exit: system,
    description: 'systemctl failed (a unit that does not start, a refused daemon-reload)'
  },
  CND_DEPLOYMENT_FAILED: {
    exit: system,
    description: 'a deployment could not be rendered, created, started or stopped'
  },
  CND_DEPLOYMENT_NOT_FOUND: { exit: notFound, description: 'no deployment of that id' },
  CND_NO_RUNNING_DEPLOYMENT: {
    exit: notFound,
    description: 'a command that runs in a deployment, and none is running'
  },
  CND_PORTS_EXHAUSTED: { exit: failure, description: 'no free port left in the range for a deployment' },
  CND_HOOK_FAILED: { exit: hook, description: 'a hook exited non-zero or timed out; its output is attached' },
  CND_ACTIONS_FAILED: {
    exit: failure,
    description: '`reload` or a lifecycle command: an action failed (each is printed), the others were applied'
  },
  CND_CADDY_CONVERGE_FAILED: {
    exit: invalidInput,
    description: '`reload`: Caddy could not be converged (each error is printed); everything else was applied'
  },
  CND_RELOAD_LOCKED: { exit: locked, description: 'another reload holds the reconcile lock' },
  CND_DEPLOY_FAILED: {
    exit: system,
    description: 'a deploy failed (never ready, or the route switch failed); the previous deployment keeps serving'
  },
  CND_DEPLOY_LOCKED: { exit: locked, description: 'another deploy of the same service is running' },

  // Commands and functions (conductor/run, gateway)
  CND_COMMAND_NOT_FOUND: {
    exit: notFound,
    http: 404,
    description: 'the service declares no such command (or no such remote command)'
  },
  CND_COMMAND_CONTEXT: {
    exit: usage,
    http: 409,
    description: 'the command cannot run in the context asked for (service or deployment)'
  },
  CND_COMMAND_INTERACTIVE: { exit: failure, http: 409, description: 'the command is interactive: run it with -it' },
  CND_COMMAND_NOT_INTERACTIVE: {
    exit: failure,
    http: 409,
    description: 'the command is not interactive: run it without -it'
  },
  CND_FUNCTION_NOT_FOUND: { exit: notFound, http: 404, description: 'no function of that id' },
  CND_PTY_SPAWN_FAILED: {
    exit: notFound,
    description: 'the program of an interactive command cannot be started (missing, not executable)'
  },

  // Operator keys and remote commands (conductor/run)
  CND_KEY_EXISTS: { exit: failure, description: '`key generate`: a key of that name exists' },
  CND_KEY_NOT_FOUND: { exit: notFound, description: 'no key of that name' },
  CND_KEY_DIR_UNSAFE: {
    exit: failure,
    description: 'the keys directory is writable by group or others, or owned by another user'
  },
  CND_KEY_SYMLINK: { exit: failure, description: "a symbolic link sits at a key file's path; it is never followed" },
  CND_REMOTE_REFUSED: {
    exit: failure,
    description: '`run --remote`: the gateway refused the command (its error code is in the message)'
  },
  CND_REMOTE_FAILED: {
    exit: failure,
    description: '`run --remote`: the gateway cannot be reached, or the connection failed'
  },

  // Caddy (caddy/, conductor/proxy)
  CND_CADDY: {
    exit: system,
    description: 'the Caddy admin URL is unusable, or Caddy answered something that is not what it should be'
  },
  CND_CADDY_UNREACHABLE: { exit: system, description: 'the Caddy admin API cannot be reached' },
  CND_CADDY_HTTP: {
    exit: system,
    description: "the Caddy admin API answered an error (status, method, path, Caddy's text)"
  },
  CND_CADDY_NOT_FOUND: { exit: system, description: 'the Caddy admin API has no object at that path or @id' },
  CND_CADDY_CONFLICT: {
    exit: system,
    description:
      "Caddy's config kept changing under a read-modify-write (If-Match failed each time), or another process held a service's route lock for 60 s"
  },
  CND_CADDY_SNIPPET_INVALID: {
    exit: invalidInput,
    description: "a proxy template's output is not a usable snippet list"
  },
  CND_CADDY_ROUTE_INVALID: {
    exit: invalidInput,
    description: 'a route description that cannot be built (a bad policy name, host, path, upstream)'
  },
  CND_SNIPPETS_FAILED: {
    exit: failure,
    description: "`caddy status`/`sync`: a snippet is not registered, or an owner's snippets failed (each is printed)"
  },

  // Policies (policies/)
  CND_POLICY_INVALID: {
    exit: invalidInput,
    description: 'a policy file cannot be read or validated; every problem as FILE: /json/path: reason'
  },
  CND_POLICY_SYNTAX: {
    exit: invalidInput,
    description: 'a policy file is not JSON (comments allowed), with line and column'
  },
  CND_POLICY_KEY_INVALID: {
    exit: invalidInput,
    description: 'a key that cannot be imported, is private, or does not fit `jwt_alg`'
  },
  CND_POLICY_CYCLE: { exit: invalidInput, description: '`policy` references form a cycle' },
  CND_POLICY_REFERENCE_MISSING: {
    exit: invalidInput,
    description: 'a `policy` reference names a policy that does not exist or is invalid'
  },
  CND_POLICY_NOT_FOUND: { exit: notFound, description: 'no policy of that name' },
  CND_POLICY_JWKS_FETCH_FAILED: {
    exit: failure,
    description: 'a JWKS URL could not be fetched or holds no usable key set'
  },
  CND_POLICY_DENIED: { exit: failure, description: '`policy check`: the policy denies the request' },

  // The gateway (gateway/): starting it, and its HTTP answers
  CND_GATEWAY: {
    exit: failure,
    description: 'the gateway cannot start (e.g. a --functions-group that does not exist)'
  },
  CND_GATEWAY_LISTEN_NOT_ALLOWED: {
    exit: usage,
    description: 'a listen address that is not loopback or an absolute unix socket path'
  },
  CND_LISTEN_FAILED: { exit: failure, description: 'a listener cannot be opened (address in use, no permission)' },
  CND_GATEWAY_OVERLOADED: {
    exit: failure,
    http: 503,
    description: 'the gateway sheds load (event loop lagging); retry after Retry-After'
  },
  CND_NOT_FOUND: { exit: failure, http: 404, description: 'no gateway route at that method and path' },
  CND_BAD_REQUEST: {
    exit: failure,
    http: 400,
    description: 'a request the gateway cannot parse (query, path encoding, JSON body)'
  },
  CND_BODY_TOO_LARGE: { exit: failure, http: 413, description: "a request body over the route's limit" },
  CND_UNSUPPORTED_MEDIA_TYPE: {
    exit: failure,
    http: 415,
    description: 'a request body of a content type the route does not take'
  },
  CND_HEADER_REPEATED: {
    exit: failure,
    http: 400,
    description: 'a header the policy decision reads came more than once'
  },
  CND_AUTH_REQUIRED: { exit: failure, http: 401, description: 'no credential, or one the policy does not accept' },
  CND_AUTH_DENIED: {
    exit: failure,
    http: 403,
    description: 'the policy refuses the request (authorization missing, token not bound to it)'
  },
  CND_TOKEN_REPLAYED: { exit: failure, http: 401, description: 'a remote command token whose jti was used before' },
  CND_BUSY: {
    exit: failure,
    http: 503,
    description: 'the replay cache of command tokens is full; retry after Retry-After'
  },
  CND_BAD_ARGS: {
    exit: failure,
    http: 400,
    description: 'a remote command body that is not {"args": [strings]} within the limits'
  },
  CND_BAD_UPGRADE: {
    exit: failure,
    http: 400,
    description: 'an interactive command request that is not a WebSocket upgrade with the subprotocol'
  },
  CND_BAD_FRAME: {
    exit: failure,
    description: 'interactive session: a control frame that is malformed or out of order'
  },
  CND_NO_START: { exit: failure, description: 'interactive session: no start frame in time' },

  // Function processes (cgi/)
  CND_CGI: { exit: failure, http: 502, description: 'a function failed in a way none of the codes below names' },
  CND_CGI_BAD_GATEWAY: {
    exit: failure,
    http: 502,
    description: 'the function exited, crashed or closed stdout before a complete header block'
  },
  CND_CGI_HEADER_INVALID: {
    exit: failure,
    http: 502,
    description: "the function's header block is malformed (RFC 3875 §6.3)"
  },
  CND_CGI_HEADER_TOO_LARGE: { exit: failure, http: 502, description: "the function's header block is over the limit" },
  CND_CGI_SPAWN_FAILED: { exit: failure, http: 502, description: "the function's process cannot be started" },
  CND_CGI_BAD_REQUEST: {
    exit: failure,
    http: 400,
    description: 'the request holds what no process can be given (NUL, control characters)'
  },
  CND_CGI_TIMEOUT: {
    exit: failure,
    http: 504,
    description: 'the function ran past timeout_sec; its process group was killed'
  },
  CND_CGI_BUSY: { exit: failure, http: 503, description: 'every worker of the function is busy and its queue is full' },
  CND_CGI_BODY_TOO_LARGE: { exit: failure, http: 413, description: 'the request body is over max_body_bytes' },
  CND_CGI_LIMITS_UNAVAILABLE: {
    exit: failure,
    http: 503,
    description: "the function's service_directives cannot be applied here (no systemd manager, a limit it cannot set)"
  },
  CND_CGI_CLOSED: {
    exit: failure,
    http: 503,
    description: 'the function was removed by a reload, or the gateway stops'
  },
  CND_CGI_CLIENT_GONE: {
    exit: failure,
    http: 499,
    description: 'the client went away before the answer was complete (nothing is sent)'
  },

  // Doctor (conductor/doctor)
  CND_DOCTOR_FAILED: { exit: failure, description: '`doctor`: a check failed (each ✗ is printed with its fix)' },

  // Fleet placement and service archives (conductor/placement, conductor/archive)
  CND_FLEET_INPUT_INVALID: {
    exit: invalidInput,
    description: 'the placement planner was given input the loaders should have refused'
  },
  CND_FLEET_HOSTS_INVALID: {
    exit: invalidInput,
    description: '`fleet plan`: the hosts file cannot be read or validated'
  },
  CND_FLEET_HOSTS_SYNTAX: {
    exit: invalidInput,
    description: '`fleet plan`: the hosts file is not JSON (comments allowed)'
  },
  CND_FLEET_UNKNOWN_SERVICE: {
    exit: notFound,
    description: 'the hosts file puts on a machine a service the services directory does not have'
  },
  CND_FLEET_UNPLACEABLE: {
    exit: failure,
    description: '`fleet plan`, `fleet drain`: a service could not be placed (the reason is printed)'
  },
  CND_FLEET_PACK_REFUSED: {
    exit: invalidInput,
    http: 422,
    description: 'a service directory that cannot be packed (device file, FIFO, socket, link leaving it)'
  },
  CND_FLEET_ARCHIVE_INVALID: {
    exit: invalidInput,
    http: 422,
    description: 'an archive refused before anything is written (a bad entry)'
  },
  CND_FLEET_ARCHIVE_TOO_LARGE: {
    exit: invalidInput,
    http: 413,
    description: 'an archive over the size or entry limit, packed or unpacked'
  },
  CND_FLEET_DIGEST_MISMATCH: {
    exit: invalidInput,
    http: 422,
    description: 'an archive whose SHA-256 is not the announced one'
  },
  CND_FLEET_NAME_INVALID: {
    exit: invalidInput,
    http: 400,
    description: 'a service name or version that is not a plain name'
  },
  CND_FLEET_SERVICE_NOT_MANAGED: {
    exit: failure,
    description: 'the service directory exists but was not installed by fleet sync'
  },
  CND_FLEET_NO_PREVIOUS_VERSION: { exit: notFound, description: '`rollback` with no previous version kept' },
  CND_FLEET_INSTALL_LOCKED: { exit: locked, description: 'another process installs or rolls back the same service' },
  CND_FLEET_PLACEMENT_LOCKED: {
    exit: locked,
    http: 503,
    description: 'another process held the placement file (LIB/fleet/placement.json) lock for too long'
  },
  CND_FLEET_PUSH_CONFLICT: {
    exit: locked,
    http: 409,
    description: 'another push of the same service won the compare-and-set: its version stands, this one was not stored'
  },
  CND_FLEET_SERVICE_UNKNOWN: {
    exit: notFound,
    http: 404,
    description: "the fleet's bucket holds no such service (`fleet rm`, `fleet rollback`, the service functions)"
  },
  CND_FLEET_HOST_UNKNOWN: {
    exit: notFound,
    description: '`fleet drain`: no machine of that peer id in the capacity ledger (`fleet where` lists the machines)'
  },
  CND_FLEET_WRITE_DENIED: {
    exit: failure,
    http: 403,
    description: 'the caller of a service function lacks the `service-write` authorization of the peers policy'
  },
  CND_FLEET_INPUT_INVALID_BODY: {
    exit: usage,
    http: 400,
    description: 'a request to a built-in service function is not what it accepts (the message says which field)'
  },

  // The cluster: peers, invites, the NATS server (conductor/cluster)
  CND_PEER_IDENTITY_MISSING: {
    exit: notFound,
    http: 503,
    description: 'this host has no peer identity (key pair, cluster state): run `conductor system install`'
  },
  CND_CLUSTER_STATE_INVALID: {
    exit: invalidInput,
    description: 'cluster.json cannot be read or is not what Conductor wrote'
  },
  CND_CLUSTER_LOCKED: {
    exit: locked,
    http: 503,
    description: 'another process holds the cluster state lock for too long'
  },
  CND_NATS_UNAVAILABLE: {
    exit: system,
    http: 503,
    description: 'the local NATS server does not answer or JetStream is off: membership cannot be read or changed'
  },
  CND_PEER_CREDENTIAL_INVALID: {
    exit: usage,
    description: 'an invite secret or public key on the command line is not one, or is the other kind'
  },
  CND_PEER_INVITE_EXPIRED: { exit: failure, http: 403, description: 'the invite is past its expiry' },
  CND_PEER_INVITE_USED: {
    exit: failure,
    http: 403,
    description: 'the invite was used already (invites are single-use)'
  },
  CND_PEER_INVITE_SCOPE: {
    exit: failure,
    http: 403,
    description: 'an invite (or a peer without peer-list-write) asked for more than joining itself'
  },
  CND_PEER_MISMATCH: {
    exit: failure,
    http: 403,
    description: 'a peer id or hostname that is not what was signed, or not what the host is'
  },
  CND_PEER_CONFLICT: {
    exit: failure,
    http: 409,
    description: 'a peer id or hostname taken by another key, or two hosts in different clusters'
  },
  CND_PEER_NOT_FOUND: { exit: notFound, http: 404, description: 'no peer with that id' },
  CND_PEER_METHOD: { exit: failure, http: 405, description: 'a built-in peer function called with the wrong method' },
  CND_PEER_REFUSED: {
    exit: failure,
    description: 'the remote host refused the call (401/403, or a refusal of its built-in function)'
  },
  CND_PEER_UNREACHABLE: {
    exit: failure,
    description: 'the remote host cannot be reached (DNS, connection refused, no route, timeout)'
  },
  CND_PEER_TLS: {
    exit: failure,
    description: 'TLS with the remote host failed: its certificate does not verify (a private CA needs --ca-file)'
  },
  CND_PEER_INPUT_INVALID: {
    exit: usage,
    http: 400,
    description: 'a body sent to a built-in peer function is not what it accepts (the JSON path says where)'
  }
} as const satisfies Record<`CND_${string}`, CatalogueEntry>

/** Every error code Conductor gives. */
export type ErrorCode = keyof typeof ENTRIES

/** The catalogue, by code. */
export const CATALOGUE: Readonly<Record<ErrorCode, CatalogueEntry>> = ENTRIES

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CATALOGUE, value)
}

/** The HTTP status of a code; a code that names no HTTP answer is a 500 if it ever becomes one. */
export function httpStatusOf(code: ErrorCode): number {
  return CATALOGUE[code].http ?? 500
}
