import path from 'node:path'
import { PEERS_SERVICE, SERVICE_FILE_NAME } from '../model/index.js'
import { HEADER, type UnitPaths } from './unit-files.js'

// The built-in service of the peer functions (issue 17 item 5): the seed's add-peer,
// remove-peer and list-peers, plus a public identity function, as ordinary CGI functions the
// gateway runs behind the peers policy and Caddy routes like any other (`conductor function
// caddy-config` from its proxy template, registered by `conductor reload`). Their programs are
// the conductor CLI itself (`conductor _ builtin NAME`), so, like the units, the files name
// this Node and this bin.js and `system install` writes them (with the peer identity).

export const PEERS_PROXY_TEMPLATE = 'proxy-config.template'
/** The largest service archive (64 MiB, conductor/archive's limit) and some room. */
const WRITE_SERVICE_MAX_BODY = 64 * 1024 * 1024 + 64 * 1024

export interface BuiltinFile {
  path: string
  content: string
  mode: number
}

export function renderPeersService(p: UnitPaths, servicesDir: string): BuiltinFile[] {
  const dir = path.join(servicesDir, PEERS_SERVICE)
  // Function names take no "-" (it separates deployment id parts): add_peer, whose id is conductor-peers-add_peer.
  const fn = (name: string, policy: string | undefined, authorization?: string): Record<string, unknown> => ({
    name: name.replace(/-/g, '_'),
    exec: [...p.conductor, '_', 'builtin', name],
    ...(policy !== undefined ? { policy } : {}),
    ...(authorization !== undefined ? { authorization } : {}),
    // A join carries the members' route certificates (~1.5 KiB each).
    max_body_bytes: 1024 * 1024,
    timeout_sec: 30
  })
  const service = {
    app_name: 'conductor',
    // The gateway checks the peers policy with these authorizations; add-peer accepts invites
    // and peers (every entry of the peers policy grants peer-add) and tells them apart itself.
    functions: [
      fn('add-peer', 'peers', 'peer-add'),
      fn('remove-peer', 'peers', 'peer-list-write'),
      fn('list-peers', 'peers', 'peer-list-read'),
      // The seed's service functions (issue 18): a service archive into the fleet's bucket, and an
      // uploaded service enabled, disabled, started or stopped on this host.
      { ...fn('write-service', 'peers', 'service-write'), max_body_bytes: WRITE_SERVICE_MAX_BODY, timeout_sec: 120 },
      fn('enable', 'peers', 'service-write'),
      fn('disable', 'peers', 'service-write'),
      fn('start', 'peers', 'service-write'),
      fn('stop', 'peers', 'service-write'),
      // Public: the peer id, hostname, route, public key and route certificate, and the cluster's
      // name. `peer add --pubkey` reads it and checks the key is the one the operator gave.
      fn('identity', undefined)
    ],
    proxy_config_template: `./${PEERS_PROXY_TEMPLATE}`
  }
  const template = peersProxyTemplate(p.conductor.map(shq).join(' '))
  return [
    { path: path.join(dir, SERVICE_FILE_NAME), content: JSON.stringify(service, null, 2) + '\n', mode: 0o644 },
    { path: path.join(dir, PEERS_PROXY_TEMPLATE), content: template, mode: 0o755 }
  ]
}

const TEMPLATE_HEAD = `#!/bin/sh
${HEADER.trim()}
# The Caddy routes of the built-in peer functions, made by conductor itself.
if [ -n "$CONDUCTOR_FUNCTION_ID" ]; then exec `
const TEMPLATE_TAIL = ` function caddy-config; fi
echo '[]'
`

function peersProxyTemplate(conductor: string): string {
  return `${TEMPLATE_HEAD}${conductor}${TEMPLATE_TAIL}`
}

/**
 * Whether TEXT is the built-in peers service's proxy template as `system install` writes it
 * (for any conductor command line): a template that only prints what `conductor function
 * caddy-config` would, so Conductor may compute its output itself instead of starting a Node
 * process per function (proxy/builtin-snippets.ts). An edited template is run as it is.
 */
export function isBuiltinPeersTemplate(text: string): boolean {
  if (!text.startsWith(TEMPLATE_HEAD) || !text.endsWith(TEMPLATE_TAIL)) return false
  const command = text.slice(TEMPLATE_HEAD.length, text.length - TEMPLATE_TAIL.length)
  return command.length > 0 && !/[\n;&|`$<>]/.test(command.replace(/'[^']*'/g, ''))
}

function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}
