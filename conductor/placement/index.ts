// Public surface of conductor/placement/: the pure placement rule of the fleet (issue 19) and its
// explanation. The hosts file reader (zod) is loaded on demand to keep CLI start-up light (lazy.ts).
export {
  planPlacements,
  byId,
  type Demand,
  type Decision,
  type Fit,
  type MachineSpec,
  type Plan,
  type PlanInput,
  type Unplaced,
  type Units
} from './placement.js'
export {
  explain,
  formatRatio,
  machineLoads,
  type Explanation,
  type MachineExplanation,
  type MachineLoad,
  type UnitFigures,
  type Verdict
} from './explain.js'
export { placeOnLoads, sumUnits, type LoadPlacement } from './loads.js'
export { serviceDemand, DEFAULT_INSTANCES, type DemandSource } from './demand.js'
export { readHostsFile } from './lazy.js'
