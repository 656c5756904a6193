import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Builds every package (`tsc -b`, quick when nothing changed) before any test runs: worker
 * threads and spawned servers load the built dist/, which must be the current sources.
 * FATHOM_TEST_SKIP_BUILD=1 skips it, and says so.
 */
export default function setup(): void {
  if (process.env.FATHOM_TEST_SKIP_BUILD === '1') {
    process.stderr.write('FATHOM_TEST_SKIP_BUILD=1: dist/ is not rebuilt; workers and spawned servers run whatever was built last.\n');
    return;
  }
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-b'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc -b failed, so the built dist/ that workers and spawned servers load would not be the current sources:\n${stdout}${stderr}`);
  }
}
