// Public surface of conductor/attach/.
export { type Outcome, attachDeployment, attachService, detachDeployment, detachService } from './attach.js'
