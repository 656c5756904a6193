#!/usr/bin/env node
// Runs @modelcontextprotocol/conformance against every server over HTTP. The suite's own output
// goes to .fathom/conformance/<server>.log; this prints one line per server. Fails when a
// scenario outside tests/conformance/baseline.yml fails, or when a generic scenario does not pass.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const servers = ['search', 'browser', 'files', 'python-sandbox'];
const generic = ['server-initialize', 'ping', 'tools-list', 'logging-set-level', 'dns-rebinding-protection', 'server-sse-multiple-streams'];
const suite = `${root}node_modules/@modelcontextprotocol/conformance/dist/index.js`;
const baseline = `${root}tests/conformance/baseline.yml`;
const outDir = `${root}.fathom/conformance`;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url, child) {
  for (let i = 0; i < 200 && child.exitCode === null; i++) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

function scenarioStatuses(dir) {
  const statuses = {};
  for (const entry of readdirSync(dir)) {
    const scenario = /^server-(.+)-\d{4}-\d\d-\d\dT/.exec(entry)?.[1];
    const checks = `${dir}/${entry}/checks.json`;
    if (!scenario || !existsSync(checks)) continue;
    const all = JSON.parse(readFileSync(checks, 'utf8'));
    statuses[scenario] = all.every((check) => check.status === 'SUCCESS') ? 'pass' : 'fail';
  }
  return statuses;
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
let failed = false;
for (const name of servers) {
  const port = await freePort();
  const child = spawn(process.execPath, [`${root}servers/${name}/dist/main.js`, '--transport', 'http', '--port', String(port), '--log-level', 'error'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, FATHOM_CACHE_PATH: `${outDir}/cache.sqlite` },
  });
  let serverLog = '';
  child.stderr.on('data', (chunk) => (serverLog += chunk));
  try {
    if (!(await waitHealthy(`http://127.0.0.1:${port}/healthz`, child))) {
      process.stdout.write(`conformance ${name}: FAILED, the server did not start\n${serverLog}\n`);
      failed = true;
      continue;
    }
    const results = `${outDir}/${name}`;
    const run = spawnSync(process.execPath, [suite, 'server', '--url', `http://127.0.0.1:${port}/mcp`, '--expected-failures', baseline, '-o', results], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    writeFileSync(`${outDir}/${name}.log`, `${run.stdout}\n${run.stderr}\n--- server log ---\n${serverLog}`);
    const statuses = scenarioStatuses(results);
    const notPassing = generic.filter((scenario) => statuses[scenario] !== 'pass');
    const passing = Object.values(statuses).filter((status) => status === 'pass').length;
    if (run.status !== 0 || notPassing.length > 0) {
      failed = true;
      const why = notPassing.length ? `generic scenarios not passing: ${notPassing.join(', ')}` : 'unexpected failures or stale baseline entries';
      process.stdout.write(`conformance ${name}: FAILED (${why}); details in .fathom/conformance/${name}.log\n`);
    } else {
      process.stdout.write(`conformance ${name}: ok, ${passing} scenarios pass including all ${generic.length} generic ones (fixture-only ones are in the baseline)\n`);
    }
  } finally {
    child.kill('SIGTERM');
  }
}
process.exit(failed ? 1 : 0);
