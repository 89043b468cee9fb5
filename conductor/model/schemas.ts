// The zod side of the model, for the few modules that compose or print schemas (`conductor
// schema`, `fleet plan`'s hosts file, doctor's fix lines). Reached through
// `loadModelSchemas()` of index.ts: importing zod costs ~100 ms of a CLI start.
export { hostSchema, hostJsonSchema, hostFieldNames, hostIssues } from './host-schema.js'
export { serviceFileSchema, serviceJsonSchema } from './service-schema.js'
export { resourceUnitsSchema, resourceAmountSchema } from './resource-units.js'
