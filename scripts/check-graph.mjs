#!/usr/bin/env node
// Keeps the package graph acyclic and the benchmarks and cross-package tests on public exports.
// Reads every workspace's package.json and the imports of each source file (a regex over
// `from '...'`, `import '...'`, `import('...')` and `import.meta.resolve('...')`), and fails when:
//   (a) workspace packages form a cycle (through their dependencies or their imports);
//   (b) a package imports a workspace package its package.json does not list in dependencies;
//   (c) the files of one package import each other in a cycle;
//   (d) a file under bench/ or tests/ imports from a package's src/ or dist/ instead of by its
//       name, or imports a subpath the package does not list in its exports;
//   (e) a package's sources name a workspace package other than in an import written out (a
//       specifier computed at run time, import(`@scope/${name}`), hides the dependency).
// Starting a built program (a path to dist/main.js handed to a child process) is not an import
// and is not checked.
//
//   node scripts/check-graph.mjs [root]     exit 0 when the graph is clean, 1 with each problem
//                                           (root: the repository, by default this script's)
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));

// Cycles between files that another change is taking apart, each with the reason it is listed.
// A listed cycle that is gone is reported too, so the list only shrinks.
// Type-only imports count: they tie the files together as much for a reader.
const KNOWN_FILE_CYCLES = [];

// Internal imports from bench/ or tests/ that wait for an export of their own, with the reason.
const KNOWN_INTERNAL_IMPORTS = [];

const CODE = /\.(?:ts|mts|cts|js|mjs|cjs)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', 'results', '.fathom']);

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function sourceFiles(dir) {
  if (!existsSync(dir)) return [];
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) files.push(...sourceFiles(path));
    } else if (CODE.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files.sort();
}

/** Block comments and whole-line comments out, so that examples in prose are not read as imports. */
function withoutComments(code) {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

const IMPORT_FORMS = [
  /\bfrom\s*(['"])([^'"\n]+)\1/g,
  /^\s*import\s*(['"])([^'"\n]+)\1/gm,
  /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
  /\bimport\.meta\.resolve\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
];

function importsOf(file) {
  const code = withoutComments(readFileSync(file, 'utf8'));
  const found = new Set();
  for (const form of IMPORT_FORMS) for (const match of code.matchAll(form)) found.add(match[2]);
  return [...found];
}

/** The workspace package names a file writes outside its import forms, e.g. in a computed import. */
function hiddenNames(file, prefixes) {
  let code = withoutComments(readFileSync(file, 'utf8'));
  for (const form of IMPORT_FORMS) code = code.replace(form, '');
  const found = [];
  for (const match of code.matchAll(/(['"`])([^'"`\n]*)/g)) {
    if (prefixes.some((prefix) => match[2].startsWith(prefix))) found.push(match[2]);
  }
  return found;
}

/** The package name and subpath of a bare specifier: '@fathom/files/convert' → ['@fathom/files', './convert']. */
function splitBare(specifier) {
  const parts = specifier.split('/');
  const count = specifier.startsWith('@') ? 2 : 1;
  const rest = parts.slice(count).join('/');
  return [parts.slice(0, count).join('/'), rest ? `./${rest}` : '.'];
}

/** The source file a relative specifier names (`./x.js` is `./x.ts` in TypeScript sources). */
function resolveRelative(from, specifier) {
  const base = resolve(dirname(from), specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, `${base}.js`, join(base, 'index.ts'), join(base, 'index.js')];
  return candidates.find((path) => existsSync(path) && statSync(path).isFile());
}

const rel = (path) => relative(root, path).split(sep).join('/');

// ---------------------------------------------------------------- the workspaces

const manifest = readJson(join(root, 'package.json'));
const packages = (manifest.workspaces ?? []).map((dir) => {
  const json = readJson(join(root, dir, 'package.json'));
  const exportsField = json.exports ?? { '.': json.main ?? './index.js' };
  const exportKeys = typeof exportsField === 'string' ? ['.'] : Object.keys(exportsField);
  return {
    dir,
    abs: join(root, dir),
    name: json.name,
    dependencies: new Set(Object.keys({ ...json.dependencies, ...json.peerDependencies, ...json.optionalDependencies })),
    exports: new Set(exportKeys),
    files: sourceFiles(join(root, dir, 'src')),
  };
});
const byName = new Map(packages.map((pkg) => [pkg.name, pkg]));
const problems = [];

function checkExport(file, specifier) {
  const [name, subpath] = splitBare(specifier);
  const target = byName.get(name);
  if (target && !target.exports.has(subpath)) {
    problems.push(`${rel(file)} imports ${specifier}, but ${name} does not export "${subpath}" (its exports: ${[...target.exports].join(', ')})`);
  }
}

// ---------------------------------------------------------------- (a), (b): packages

const packageEdges = new Map(packages.map((pkg) => [pkg.name, new Set()]));
for (const pkg of packages) {
  for (const dependency of pkg.dependencies) if (byName.has(dependency)) packageEdges.get(pkg.name).add(dependency);
  for (const file of pkg.files) {
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        const owner = packages.find((other) => target.startsWith(other.abs + sep));
        if (owner && owner !== pkg) problems.push(`${rel(file)} imports ${specifier}, a file of ${owner.name}: import it by its package name`);
        continue;
      }
      const [name] = splitBare(specifier);
      if (!byName.has(name) || name === pkg.name) continue;
      packageEdges.get(pkg.name).add(name);
      if (!pkg.dependencies.has(name)) problems.push(`${rel(file)} imports ${name}, which ${pkg.dir}/package.json does not list in its dependencies`);
      checkExport(file, specifier);
    }
  }
}

/** The groups of nodes that reach each other (Tarjan), each of more than one node or a node importing itself. */
function cycleGroups(edges) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const groups = [];
  let counter = 0;
  const visit = (node) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node), index.get(next)));
    }
    if (low.get(node) !== index.get(node)) return;
    const group = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    if (group.length > 1 || edges.get(node)?.has(node)) groups.push(group.sort());
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return groups;
}

/** One cycle through a group: the shortest way from its first member back to itself. */
function cycleIn(group, edges) {
  const members = new Set(group);
  const start = group[0];
  const before = new Map();
  const queue = [start];
  while (queue.length) {
    const node = queue.shift();
    for (const next of [...(edges.get(node) ?? [])].sort()) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(before.get(path[0]));
        return [...path, start];
      }
      if (!before.has(next)) {
        before.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

// A scoped workspace name is looked for by its scope (`@fathom/`), so that a computed name counts.
const namePrefixes = [...new Set(packages.map((pkg) => (pkg.name.startsWith('@') ? `${pkg.name.split('/')[0]}/` : pkg.name)))];
for (const pkg of packages) {
  for (const file of pkg.files) {
    for (const name of hiddenNames(file, namePrefixes)) {
      problems.push(`${rel(file)} names ${name} outside an import: import the package with its specifier written out, so that the dependency shows`);
    }
  }
}

for (const group of cycleGroups(packageEdges)) problems.push(`package cycle: ${cycleIn(group, packageEdges).join(' -> ')}`);

// ---------------------------------------------------------------- (c): files inside a package

const knownCycles = new Set(KNOWN_FILE_CYCLES.map((known) => `${known.package}\n${[...known.files].sort().join('\n')}`));
const metCycles = new Set();
for (const pkg of packages) {
  const edges = new Map(pkg.files.map((file) => [file, new Set()]));
  for (const file of pkg.files) {
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) continue;
      const target = resolveRelative(file, specifier);
      if (target && edges.has(target)) edges.get(file).add(target);
    }
  }
  const name = (file) => relative(pkg.abs, file).split(sep).join('/');
  for (const group of cycleGroups(edges)) {
    const key = `${pkg.name}\n${group.map(name).sort().join('\n')}`;
    if (knownCycles.has(key)) {
      metCycles.add(key);
      continue;
    }
    const others = group.length > 2 ? ` (${group.length} files import each other: ${group.map(name).join(', ')})` : '';
    problems.push(`import cycle in ${pkg.name}: ${cycleIn(group, edges).map(name).join(' -> ')}${others}`);
  }
}
for (const known of KNOWN_FILE_CYCLES.filter((entry) => byName.has(entry.package))) {
  const key = `${known.package}\n${[...known.files].sort().join('\n')}`;
  if (!metCycles.has(key)) problems.push(`scripts/check-graph.mjs lists a cycle that is gone (${known.package}: ${known.files.join(', ')}): remove it from KNOWN_FILE_CYCLES`);
}

// ---------------------------------------------------------------- (d): bench/ and tests/

const knownInternal = new Map(KNOWN_INTERNAL_IMPORTS.map((known) => [`${known.file}\n${known.specifier}`, known]));
const metInternal = new Set();
for (const dir of ['bench', 'tests']) {
  for (const file of sourceFiles(join(root, dir))) {
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) {
        checkExport(file, specifier);
        continue;
      }
      const target = resolve(dirname(file), specifier);
      const owner = packages.find((pkg) => ['src', 'dist'].some((part) => target.startsWith(join(pkg.abs, part) + sep)));
      if (!owner) continue;
      const key = `${rel(file)}\n${specifier}`;
      if (knownInternal.has(key)) {
        metInternal.add(key);
        continue;
      }
      problems.push(`${rel(file)} imports ${specifier}, inside ${owner.name}: import it from ${owner.name} (add it to the package's exports if it is not there)`);
    }
  }
}
for (const [key, known] of knownInternal) {
  if (!metInternal.has(key) && existsSync(join(root, known.file))) problems.push(`scripts/check-graph.mjs lists an import that is gone (${known.file}: ${known.specifier}): remove it from KNOWN_INTERNAL_IMPORTS`);
}

if (problems.length) {
  process.stderr.write(`check-graph: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((problem) => `  ${problem}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`check-graph: ${packages.length} packages, no cycles; bench/ and tests/ import public exports only\n`);
