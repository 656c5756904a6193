import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

interface PackageJson {
  name: string;
  workspaces?: string[];
  exports?: Record<string, string>;
}

const read = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as PackageJson;

/** Every export of every workspace but the entry points that start a program when loaded. */
const entries = (read('.').workspaces ?? []).flatMap((dir) => {
  const pkg = read(dir);
  return Object.entries(pkg.exports ?? {})
    .filter(([, built]) => !built.endsWith('/main.js'))
    .map(([subpath, built]) => ({
      specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
      source: join(ROOT, dir, 'src', `${built.slice('./dist/'.length, -'.js'.length)}.ts`),
    }));
});

describe('workspace packages in tests', () => {
  it('cover the packages the servers import from each other', () => {
    expect(entries.map((entry) => entry.specifier)).toEqual(expect.arrayContaining(['@fathom/core', '@fathom/core/testing', '@fathom/files/convert', '@fathom/files/pool', '@fathom/search']));
  });

  it.each(entries)('$specifier loads from its source', async ({ specifier, source }) => {
    const byName: unknown = await import(/* @vite-ignore */ specifier);
    expect(byName).toBe(await import(/* @vite-ignore */ source));
  });
});
