import type { Roots } from './roots.js'
import type { Pod, Service } from './service.js'
import { socketVariables } from './sockets.js'
import { deploymentConfigUnit, deploymentUnit, serviceConfigUnit, serviceUnit } from './names.js'

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

export function baseVariables(roots?: Pick<Roots, 'root'>, env: NodeJS.ProcessEnv = process.env): Variables {
  const vars: Variables = { PATH: env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }
  if (roots !== undefined && roots.root !== '/') vars.CONDUCTOR_ROOT = roots.root
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
    ...socketVariables(base.CONDUCTOR_ROOT ?? '/', service.pods)
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
