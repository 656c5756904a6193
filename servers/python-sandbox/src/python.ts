import { existsSync } from 'node:fs';

/** The machine's own Python, not a version-manager shim (a shim costs 100 ms per start). */
export function findPython(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return [env.FATHOM_PYTHON, '/usr/bin/python3', '/usr/local/bin/python3'].find((path): path is string => !!path && existsSync(path));
}
