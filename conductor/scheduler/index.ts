// Public surface of conductor/scheduler/ (issue 19: the fleet orchestrator on every host).
// Light: the NATS packages load inside the functions that connect (kv.ts imports them on call).
export * as schedulerDefaults from './defaults.js'
export { leaseStep, newLease, parseLock, type LeaseStep, type LockValue } from './lease.js'
export {
  auditLedger,
  emptyLedger,
  ledgerLoad,
  overCommitted,
  withService,
  type LedgerEntry,
  type ServiceDemandUnits
} from './ledger.js'
export {
  decideHosts,
  demandOf,
  needsReplacing,
  placementDemand,
  samePlacement,
  type Decision,
  type PlacementValue
} from './decide.js'
export { Liveness } from './liveness.js'
export {
  openSchedulerKv,
  readAllPlacements,
  readLedger,
  readLedgers,
  readPlacementKv,
  type SchedulerKv,
  type Versioned
} from './kv.js'
export { Orchestrator, type EnsureResult, type OrchestratorOptions } from './orchestrator.js'
export { Scheduler, type SchedulerOptions } from './task.js'
export {
  allPlacements,
  drainHost,
  explainLive,
  whereIs,
  withScheduler,
  type DrainResult,
  type LiveExplanation,
  type MachineState,
  type SchedulerView,
  type Where
} from './ops.js'
