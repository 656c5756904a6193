import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the `fathom` package (bin/fathom.js, the product's version): the repository root
 * in a clone, above cli/; node_modules/fathom once installed, above node_modules/@fathom/cli,
 * where the package carries its workspaces as bundled dependencies.
 */
export function packageRoot(cli = fileURLToPath(new URL('..', import.meta.url))): string {
  for (let dir = dirname(cli); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'fathom') return `${dir}/`;
  }
  throw new Error(`no fathom package.json above ${cli}: reinstall fathom (npm install fathom)`);
}
