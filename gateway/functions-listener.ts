import { chmodSync, chownSync, readFileSync, renameSync, rmSync } from 'node:fs'
import http from 'node:http'
import { GatewayError } from './errors.js'
import type { ListenAddress } from './listen.js'

// The gateway's function listener: a second server in front of the same Fastify routes,
// normally a unix socket that only Caddy's group may open (mode 0660, --functions-group), so
// local users cannot reach functions without going through Caddy. The gateway checks each
// function's policy on every listener anyway; this one narrows who can even connect.

export interface FunctionsListenOptions {
  /** Group name or gid given the socket (e.g. caddy); default: the gateway's own group. */
  group?: string | undefined
}

/**
 * Starts the listener; call the returned close() when the gateway stops. `app.routing` is
 * Fastify's (serve.ts may pass a handler that holds requests until Fastify is attached).
 */
export async function listenFunctions(
  app: { routing: (req: http.IncomingMessage, res: http.ServerResponse) => void },
  address: ListenAddress,
  opts: FunctionsListenOptions = {}
): Promise<{ server: http.Server; close: () => Promise<void> }> {
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    app.routing(req, res)
  })
  server.keepAliveTimeout = 65_000
  // Resolved before listening: an unknown group must not leave a socket with the wrong group.
  const gid = opts.group !== undefined ? resolveGid(opts.group) : undefined
  if (address.kind === 'unix') {
    // The socket is made beside its path and renamed into place once its mode and group are set:
    // at its path it never has the umask's mode (a full test run saw 0755 there, between the
    // listen and the chmod), and Caddy's group can connect from the first moment it exists.
    const made = `${address.path}.${process.pid}.new`
    rmSync(made, { force: true })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(made, () => resolve())
    })
    chmodSync(made, 0o660)
    if (gid !== undefined) chownSync(made, -1, gid)
    renameSync(made, address.path)
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(address.port, address.host, () => resolve())
    })
  }
  const close = async (): Promise<void> => {
    await new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeIdleConnections()
    })
    if (address.kind === 'unix') rmSync(address.path, { force: true })
  }
  return { server, close }
}

function resolveGid(group: string): number {
  if (/^\d+$/.test(group)) return Number(group)
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find(l => l.split(':')[0] === group)
  if (line === undefined) throw new GatewayError(`--functions-group ${group}: no such group in /etc/group`)
  return Number(line.split(':')[2])
}
