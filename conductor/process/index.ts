// Public surface of conductor/process/.
export { runBounded } from './bounded.js'
export { runHooks } from './hooks.js'
export { runTemplate } from './template.js'
export { runTool } from './tool.js'
