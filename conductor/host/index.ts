// Public surface of conductor/host/.
export {
  type Receipt,
  type ReceiptKind,
  clearReceipt,
  configUnitOf,
  configUnitsInstalled,
  readReceipts,
  staleReceipts,
  writeReceipt
} from './config-units.js'
export { CONDUCTOR_SERVER_KEY, conductorServer } from './caddy-config.js'
export {
  type InstallPlan,
  applyInstall,
  caddyConfigIsForeign,
  caddyConfigPath,
  caddyUnitExists,
  conductorCommand,
  planInstall
} from './install.js'
export { type PodInfo, type PodmanDriver, podmanDriver } from './podman.js'
export { LABEL_DEPLOYMENT, LABEL_ROOT, markedDeployment, markPodYaml } from './pod-mark.js'
export { allocatePorts, portVariables } from './ports.js'
export { type SystemdDriver, systemdDriver } from './systemd.js'
export { type UnitPaths, caddyAutosavePath, dropInPath, renderDeploymentDropIn } from './unit-files.js'
export { isBuiltinPeersTemplate, renderPeersService } from './builtin-service.js'
export {
  type PodSocketsUnit,
  podPidFile,
  podSocketsScript,
  podSocketsScriptPath,
  renderSocketUnit,
  socketDropInLines
} from './socket-units.js'
