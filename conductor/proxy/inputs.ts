import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readVersion, type Service, type Variables } from '../model/index.js'

// What a proxy template's output depends on, hashed: its file's content, the variables it runs
// with and its directory, plus what the usual templates read beyond those: the resolved service
// (its functions and commands, which `conductor function|action caddy-config` turn into
// routes), host.json (the gateway's address in those routes) and Conductor's version (the
// route builder). Equal to the recorded hash: the recorded snippets are the template's output
// and a reload does not run it (a no-op reload of 100 services ran 100 processes before). A
// template reading anything else (a file it opens itself) is re-run by `conductor caddy sync`.

export function snippetInputs(service: Service, vars: Variables, cwd: string, host?: unknown): string {
  const h = createHash('sha256')
  const file = service.proxy_config_template ?? ''
  h.update(file + '\0')
  try {
    h.update(readFileSync(file))
  } catch {
    h.update('(unreadable)')
  }
  const sortedVars = Object.keys(vars)
    .sort()
    .map(k => [k, vars[k]])
  h.update('\0' + JSON.stringify([sortedVars, cwd, service, host ?? null, readVersion()]))
  return h.digest('hex').slice(0, 32)
}
