import { NAME_PATTERN } from '../model/index.js'

/** A bucket key the sync daemon may turn into a directory name (the loader's own pattern). */
export const checkServiceNameOk = (name: string): boolean => NAME_PATTERN.test(name)
