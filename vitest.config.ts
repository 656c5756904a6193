import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const ROOT = fileURLToPath(new URL('.', import.meta.url));

type ExportTarget = string | { import?: ExportTarget; default?: ExportTarget } | null;
interface PackageJson {
  name?: string;
  workspaces?: string[];
  exports?: string | Record<string, ExportTarget>;
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as PackageJson;
}

/** The workspace folders the root package.json lists (a trailing `/*` stands for each folder in it). */
function workspaces(): string[] {
  return (readPackage('.').workspaces ?? []).flatMap((entry) => {
    if (!entry.endsWith('/*')) return [entry];
    const parent = entry.slice(0, -2);
    return readdirSync(join(ROOT, parent), { withFileTypes: true })
      .filter((item) => item.isDirectory() && existsSync(join(ROOT, parent, item.name, 'package.json')))
      .map((item) => `${parent}/${item.name}`);
  });
}

function targetOf(target: ExportTarget): string | undefined {
  if (typeof target === 'string' || target === null) return target ?? undefined;
  return targetOf(target.import ?? target.default ?? null);
}

/**
 * Every workspace package and each of its exports to its TypeScript source (`./dist/x.js` is
 * built from `./src/x.ts`), so that tests run the sources as they are, in every package.
 */
function sourceAliases(): Array<{ find: RegExp; replacement: string }> {
  const aliases: Array<{ find: RegExp; replacement: string }> = [];
  for (const dir of workspaces()) {
    const pkg = readPackage(dir);
    if (!pkg.name || pkg.exports === undefined) continue;
    const exports = typeof pkg.exports === 'string' ? { '.': pkg.exports } : pkg.exports;
    for (const [subpath, target] of Object.entries(exports)) {
      const built = targetOf(target);
      if (!built?.startsWith('./dist/') || !built.endsWith('.js')) continue;
      const source = posix.join(dir, 'src', built.slice('./dist/'.length, -'.js'.length) + '.ts');
      if (!existsSync(join(ROOT, source))) {
        throw new Error(`${dir}/package.json exports "${subpath}" as ${built}, but its source ${source} does not exist`);
      }
      const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`;
      aliases.push({ find: new RegExp(`^${specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`), replacement: join(ROOT, source) });
    }
  }
  return aliases;
}

const packages = workspaces();

export default defineConfig({
  resolve: { alias: sourceAliases() },
  test: {
    include: [...packages.map((dir) => `${dir}/test/**/*.test.ts`), 'tests/**/*.test.ts'],
    // Worker threads and spawned servers run the built dist/: it is brought up to date first.
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
