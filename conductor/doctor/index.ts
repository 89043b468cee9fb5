// Public surface of conductor/doctor/.
export { type ServerExpectation, caddyCheck } from './caddy.js'
export { type Check, gatewayCheck, migrateReqCheck, podmanCheck, runChecks, systemdCheck } from './checks.js'
export { type StalePolicyInfo, gatewayHealth } from './gateway-health.js'
export { policiesCheck, unitsCheck } from './install.js'
