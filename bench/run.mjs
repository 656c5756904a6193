// `npm run bench`: runs every benchmark under bench/ (each folder with a run.mjs), one after the
// other, each in its own process, and prints their tables.
//
//   node bench/run.mjs [--quick] [name ...]     e.g. node bench/run.mjs --quick protocol
//
// --quick is passed through (smaller counts, results in bench/results/<name>-quick.md). Each
// benchmark gets a time limit; a benchmark still running at its limit, or when this process is
// interrupted, is killed.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const unknown = args.filter((arg) => arg.startsWith('--') && arg !== '--quick');
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown option ${unknown.join(' ')}; usage: node bench/run.mjs [--quick] [name ...]\n`);
  process.exit(2);
}
const available = readdirSync(here, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(here, entry.name, 'run.mjs')))
  .map((entry) => entry.name)
  .sort();
const wanted = args.filter((arg) => !arg.startsWith('--'));
const missing = wanted.filter((name) => !available.includes(name));
if (missing.length > 0) {
  process.stderr.write(`bench: no benchmark named ${missing.join(', ')}; available: ${available.join(', ')}\n`);
  process.exit(2);
}
const selected = wanted.length > 0 ? wanted : available;
const limitMs = (quick ? 10 : 40) * 60_000;

let current;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    current?.kill('SIGTERM');
    process.exit(130);
  });
}

function run(name) {
  return new Promise((resolve) => {
    process.stderr.write(`bench: ${name}${quick ? ' (quick)' : ''}\n`);
    const child = spawn(process.execPath, [join(here, name, 'run.mjs'), ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    current = child;
    const timer = setTimeout(() => {
      process.stderr.write(`bench: ${name} exceeded ${limitMs / 60_000} min; killing it\n`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, limitMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      process.stderr.write(`bench: ${name} could not start: ${error.message}\n`);
      resolve(false);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      resolve(code === 0 && signal === null);
    });
  });
}

const failed = [];
for (const [index, name] of selected.entries()) {
  if (index > 0) process.stdout.write('\n');
  if (!(await run(name))) failed.push(name);
}
if (failed.length > 0) {
  process.stderr.write(`bench: failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
