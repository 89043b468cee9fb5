// Public surface of conductor/fleet/: the pure placement rule and its explanation. The hosts
// file reader pulls in zod, so it is loaded on demand (readHostsFile) to keep CLI start-up light.
export {
  planPlacements, byId,
  type Demand, type Decision, type Fit, type MachineSpec, type Plan, type PlanInput, type Unplaced, type Units
} from './placement.js'
export {
  explain, formatRatio, machineLoads,
  type Explanation, type MachineExplanation, type MachineLoad, type UnitFigures, type Verdict
} from './explain.js'
export { serviceDemand, DEFAULT_INSTANCES, type DemandSource } from './demand.js'

export async function readHostsFile (file: string): Promise<import('./placement.js').MachineSpec[]> {
  return (await import('./hosts-file.js')).readHostsFile(file)
}
