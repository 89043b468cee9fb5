// Public surface of conductor/reconcile/.
export { acquireReloadLock, applyPlan, observe } from './apply.js'
export { type SystemCtx, hostInstallPlan, systemContext, unitPaths } from './context.js'
export {
  createDeployment,
  deploymentVars,
  finishStart,
  hasHooks,
  loadNewDeploymentUnit,
  removeDeployment,
  startDeployment,
  startDeploymentUnit,
  stopDeployment,
  writeDropIn
} from './deployment-ops.js'
export { loadDesired, serviceHash } from './desired.js'
export type { Action } from './plan.js'
export { outcomeFailed, outcomeJson, reconcile, renderOutcome, type ReconcileOutcome } from './reconcile.js'
