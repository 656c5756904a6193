import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A repository of the given files (path → content), checked by scripts/check-graph.mjs. */
function checkTree(files: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fathom-graph-'));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'scripts', 'check-graph.mjs'), dir], (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const manifest = (name: string, dependencies: string[] = [], exports: string[] = ['.']) =>
  JSON.stringify({ name, dependencies: Object.fromEntries(dependencies.map((dep) => [dep, '0.1.0'])), exports: Object.fromEntries(exports.map((key) => [key, './dist/x.js'])) });

const workspaces = JSON.stringify({ name: 'fathom', workspaces: ['a', 'b'] });

describe('scripts/check-graph.mjs', () => {
  it('passes a graph without cycles whose imports are declared and public', async () => {
    const result = await checkTree({
      'package.json': workspaces,
      'a/package.json': manifest('@x/a', [], ['.', './extra']),
      'a/src/index.ts': "import { y } from './y.js';\nexport { y };\n",
      'a/src/y.ts': 'export const y = 1;\n',
      'b/package.json': manifest('@x/b', ['@x/a']),
      'b/src/index.ts': "import { y } from '@x/a';\nconst extra = await import('@x/a/extra');\n// import { z } from './z.js';\nexport { y, extra };\n",
      'bench/run.mjs': "import { y } from '@x/a';\nconst main = 'a/dist/main.js';\n",
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('2 packages, no cycles');
  });

  it('names each problem: an undeclared import, a computed package name, a package cycle, a file cycle, internals and unexported subpaths from bench/ and tests/', async () => {
    const result = await checkTree({
      'package.json': workspaces,
      'a/package.json': manifest('@x/a'),
      'a/src/x.ts': "import { y } from './y.js';\nimport type { B } from '@x/b';\n",
      'a/src/y.ts': "import type { X } from './x.js';\n",
      'b/package.json': manifest('@x/b', ['@x/a']),
      'b/src/index.ts': "export * from '@x/a';\n",
      'b/src/load.ts': "const name = 'a';\nconst a = await import(`@x/${name}`);\nconst hidden = '@x/a';\nawait import(hidden);\n",
      'bench/run.mjs': "import { x } from '../a/src/x.js';\n",
      'tests/t.test.ts': "import { s } from '@x/b/sub';\nimport { d } from '../b/dist/index.js';\n",
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n').slice(1).map((line) => line.trim());
    expect(lines).toEqual([
      'a/src/x.ts imports @x/b, which a/package.json does not list in its dependencies',
      'b/src/load.ts names @x/${name} outside an import: import the package with its specifier written out, so that the dependency shows',
      'b/src/load.ts names @x/a outside an import: import the package with its specifier written out, so that the dependency shows',
      'package cycle: @x/a -> @x/b -> @x/a',
      'import cycle in @x/a: src/x.ts -> src/y.ts -> src/x.ts',
      "bench/run.mjs imports ../a/src/x.js, inside @x/a: import it from @x/a (add it to the package's exports if it is not there)",
      'tests/t.test.ts imports @x/b/sub, but @x/b does not export "./sub" (its exports: .)',
      "tests/t.test.ts imports ../b/dist/index.js, inside @x/b: import it from @x/b (add it to the package's exports if it is not there)",
    ]);
  });
});
