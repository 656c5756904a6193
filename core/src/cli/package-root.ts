import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the `fathom` package (bin/fathom.js, the product's version): the repository root
 * in a clone, above core/; node_modules/fathom once installed, above node_modules/@fathom/core,
 * where the package carries its workspaces as bundled dependencies.
 */
export function packageRoot(core = fileURLToPath(new URL('../..', import.meta.url))): string {
  for (let dir = dirname(core); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'fathom') return `${dir}/`;
  }
  throw new Error(`no fathom package.json above ${core}: reinstall fathom (npm install fathom)`);
}
