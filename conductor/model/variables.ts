import type { Roots } from './roots.js'
import type { Pod, Service } from './service.js'
import { socketVariables } from './sockets.js'
import { deploymentConfigUnit, deploymentUnit, serviceConfigUnit, serviceUnit } from './names.js'
import { readFleetView, variableSuffix, type FleetView } from './fleet-view.js'

// The exact environment of templates, hooks, commands and functions (ARCHITECTURE.md
// "Variables"): the service's config, then the CONDUCTOR_* variables (which config cannot
// override: the schema reserves those names). Nothing else of the caller's environment leaks
// in, except PATH (so "#!/bin/sh" scripts find their tools) and CONDUCTOR_ROOT when set (so a
// template that calls `conductor` sees the same host).

export type Variables = Record<string, string>

export interface DeploymentContext {
  /** Deployment id, also the pod name. */
  id: string
  /** Pod IP once the pod runs; empty before (the variable is always present for deployments). */
  podIp?: string | undefined
  /** Config the deployment carries on top of the service's (`deploy --set`). */
  config?: Record<string, string> | undefined
  /** Extra CONDUCTOR_* variables of the deployment (ports...). */
  extra?: Variables | undefined
}

// The fleet's placements travel with the base variables they were read with, out of sight
// (not variables themselves): each service picks the few that concern it (fleetVariables).
const fleetViews = new WeakMap<Variables, FleetView>()

export function baseVariables(
  roots?: Pick<Roots, 'root'> & Partial<Pick<Roots, 'lib'>>,
  env: NodeJS.ProcessEnv = process.env
): Variables {
  const vars: Variables = { PATH: env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }
  if (roots !== undefined && roots.root !== '/') vars.CONDUCTOR_ROOT = roots.root
  const view = roots?.lib !== undefined ? readFleetView(roots.lib) : undefined
  if (view !== undefined) fleetViews.set(vars, view)
  return vars
}

/**
 * On a host of a fleet (its daemon keeps a placement file): CONDUCTOR_FLEET_HOST (this host's
 * peer id), CONDUCTOR_FLEET_SERVICE_HOSTS (where this service's copies run), and for each
 * service of `fleet.depends_on` CONDUCTOR_FLEET_HOSTS_<DEP> (peer ids) and
 * CONDUCTOR_FLEET_ADDRESSES_<DEP> (the names their Caddy answers on, for https://ADDRESS),
 * comma-separated in placement order, empty when it runs nowhere.
 */
export function fleetVariables(service: Service, view: FleetView | undefined): Variables {
  if (view === undefined) return {}
  const hosts = (name: string): string[] => view.services[name]?.hosts ?? []
  const vars: Variables = {
    CONDUCTOR_FLEET_HOST: view.here,
    CONDUCTOR_FLEET_SERVICE_HOSTS: hosts(service.name).join(',')
  }
  for (const dep of service.fleet?.depends_on ?? []) {
    const hs = hosts(dep)
    vars[`CONDUCTOR_FLEET_HOSTS_${variableSuffix(dep)}`] = hs.join(',')
    vars[`CONDUCTOR_FLEET_ADDRESSES_${variableSuffix(dep)}`] = hs.map(h => view.addresses[h] ?? h).join(',')
  }
  return vars
}

export function serviceVariables(service: Service, base: Variables = {}): Variables {
  return {
    ...base,
    ...service.config,
    CONDUCTOR_APP: service.app_name,
    CONDUCTOR_INSTANCE: service.instance_name,
    CONDUCTOR_SERVICE_NAME: service.name,
    CONDUCTOR_SERVICE_DIR: service.dir,
    CONDUCTOR_SERVICE_UNIT: serviceUnit(service.name),
    CONDUCTOR_SERVICE_CONFIG_UNIT: serviceConfigUnit(service.name),
    // The sockets of every part: the service's own routes may dial them too.
    ...socketVariables(base.CONDUCTOR_ROOT ?? '/', service.pods),
    ...fleetVariables(service, fleetViews.get(base))
  }
}

export function deploymentVariables(
  service: Service,
  pod: Pod,
  deployment: DeploymentContext,
  base: Variables = {}
): Variables {
  const svc = serviceVariables(service, base)
  return {
    ...svc,
    ...deployment.config,
    // CONDUCTOR_* again after the deployment config, so it cannot shadow them either.
    ...pickConductor(svc),
    ...deployment.extra,
    CONDUCTOR_SERVICE_PART: pod.name,
    CONDUCTOR_DEPLOYMENT: deployment.id,
    CONDUCTOR_DEPLOYMENT_UNIT: deploymentUnit(deployment.id),
    CONDUCTOR_DEPLOYMENT_CONFIG_UNIT: deploymentConfigUnit(deployment.id),
    POD_NAME: deployment.id,
    POD_IP_ADDRESS: deployment.podIp ?? ''
  }
}

export function commandVariables(context: Variables, command: string, invocationDir: string): Variables {
  return { ...context, CONDUCTOR_COMMAND: command, CONDUCTOR_COMMAND_DIR: invocationDir }
}

export function functionVariables(context: Variables, id: string): Variables {
  return { ...context, CONDUCTOR_FUNCTION_ID: id }
}

function pickConductor(vars: Variables): Variables {
  return Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith('CONDUCTOR_')))
}
