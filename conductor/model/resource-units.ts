import { z } from 'zod'

// Abstract resource amounts (seed "Orchestration strategies": a machine declares e.g. 4 VCPU,
// 100 GBRAM, 10 NETWORKPORTS; a service its best and minimum of the same units). One schema
// for host.json, conductor-service.json and `fleet plan`'s hosts file, so a unit means the same
// everywhere. The placement rule sums amounts and compares them with capacities: the planner
// counts in millionths (integers, exact up to 9e9 units a machine) so that three services of
// 0.1 vcpu fit in 0.3, which float sums (0.30000000000000004) would refuse. Hence the limits.

export const RESOURCE_UNIT_PATTERN = /^[A-Za-z0-9_.-]+$/
export const MAX_RESOURCE_AMOUNT = 1e9

export const resourceAmountSchema = z
  .number({
    error: issue => `must be a number of abstract units, got ${JSON.stringify(issue.input) ?? 'nothing'}`
  })
  .nonnegative('must not be negative')
  .max(MAX_RESOURCE_AMOUNT, `must be at most ${MAX_RESOURCE_AMOUNT}`)
  .refine(hasAtMostSixDecimals, 'has more than 6 decimal places: amounts are counted in millionths; round it')

export const resourceUnitsSchema = z.record(
  z.string().regex(RESOURCE_UNIT_PATTERN, 'resource names use letters, digits and _ . -'),
  resourceAmountSchema
)

export type ResourceUnits = z.infer<typeof resourceUnitsSchema>

function hasAtMostSixDecimals(x: number): boolean {
  return Number(x.toFixed(6)) === x
}
