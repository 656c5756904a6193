// Loads a TypeScript test fixture from a benchmark (Node 20 cannot run TypeScript): each file is
// transpiled with the project's own TypeScript into .fathom/bench-build/, mirroring its path so
// that packages resolve from the repository's node_modules, and relative imports follow along.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = join(root, '.fathom', 'bench-build');

function transpile(file, done) {
  if (done.has(file)) return;
  done.add(file);
  const source = readFileSync(file, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    fileName: file,
  });
  const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, outputText);
  for (const [, spec] of source.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
    const next = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    transpile(next, done);
  }
  return target;
}

/** `await loadTs('tests/fixtures/site.ts')` → the module's exports. */
export async function loadTs(path) {
  const target = transpile(resolve(root, path), new Set());
  return import(pathToFileURL(target).href);
}
