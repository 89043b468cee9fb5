// Public surface of conductor/deploy/.
export { type DeployRequest, type PartOutcome, deployService, readHistory } from './run.js'
export { DEPLOY_STEPS } from './steps.js'
export { waitDeploymentReady } from './deployment-ready.js'
