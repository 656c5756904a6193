import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { Cache, asUser, baseConfigSchema, errorMessage, loadConfig } from '@fathom/core';
import { configSchema as browserConfigSchema, envAliases as browserEnvAliases, findChromium, probeRemoteBrowser, shownEndpoint } from '@fathom/browser';
import { findPython } from '@fathom/python-sandbox';

const run = promisify(execFile);

export interface Check {
  name: string;
  ok: boolean;
  /** What needs it, e.g. "browser server". */
  neededBy: string;
  detail: string;
  fix?: string;
}

const APT = 'sudo apt-get install -y';

async function output(command: string, args: string[], timeout = 10_000): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(command, args, { timeout });
    return (stdout || stderr).trim();
  } catch {
    return undefined;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The prefix that runs a check as `uid` (a root server's default for the browser or a sandbox), or undefined without setpriv. */
function asUserIfPossible(uid: number): string[] | undefined {
  try {
    return asUser(uid);
  } catch {
    return undefined;
  }
}

export const PYTHON_PACKAGES = ['numpy', 'pandas', 'scipy', 'sympy', 'matplotlib'];

/**
 * The cache the servers would use with this environment and fathom.config.json (or `cacheUrl`):
 * the SQLite file, or the Redis of FATHOM_CACHE_URL, which must answer.
 */
export async function cacheCheck(options: { cacheUrl?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Check> {
  const name = 'cache';
  let config;
  try {
    config = loadConfig(baseConfigSchema, { server: 'doctor', env: options.env ?? process.env, flags: options.cacheUrl ? { 'cache-url': options.cacheUrl } : {} });
  } catch (error) {
    return { name, ok: false, neededBy: 'shared cache', detail: errorMessage(error), fix: 'set FATHOM_CACHE_URL to redis://HOST:PORT/DB, or unset it to use the SQLite file' };
  }
  if (config.cacheMode === 'off') return { name, ok: true, neededBy: 'shared cache', detail: 'off (FATHOM_CACHE_MODE=off): nothing is cached' };
  if (!config.cacheUrl) {
    return { name, ok: true, neededBy: 'shared cache', detail: `SQLite file ${config.cachePath} (${config.cacheMode} mode; FATHOM_CACHE_URL shares one in Redis)` };
  }
  const cache = Cache.open({ url: config.cacheUrl, mode: config.cacheMode, redisTimeoutMs: 3000 });
  try {
    await cache.store.ping();
    const { entries, bytes } = await cache.stats();
    return {
      name,
      ok: true,
      neededBy: 'shared cache',
      detail: `Redis at ${cache.store.location}: reachable, ${entries} entries, ${(bytes / 1024 / 1024).toFixed(1)} MB (${config.cacheMode} mode)`,
    };
  } catch (error) {
    return {
      name,
      ok: false,
      neededBy: 'shared cache',
      detail: `Redis at ${cache.store.location}: not reachable (${errorMessage(error)}); servers still answer, uncached`,
      fix: 'start that Redis (apt-get install redis-server), or fix FATHOM_CACHE_URL / --cache-url',
    };
  } finally {
    await cache.close();
  }
}

/**
 * With a remote browser configured (FATHOM_CDP_ENDPOINT, or cdpEndpoint in fathom.config.json),
 * the browser server launches none: the one check is that the endpoint answers, as the server reaches it.
 */
export async function remoteBrowserCheck(env: NodeJS.ProcessEnv = process.env): Promise<Check | undefined> {
  let config;
  try {
    config = loadConfig(browserConfigSchema, { server: 'browser', env, flags: {}, envAliases: browserEnvAliases });
  } catch {
    return undefined;
  }
  if (!config.cdpEndpoint) return undefined;
  const shown = shownEndpoint(config.cdpEndpoint);
  try {
    const version = await probeRemoteBrowser(config);
    return { name: 'remote browser', ok: true, neededBy: 'browser server', detail: `Chromium ${version} at ${shown} (FATHOM_CDP_ENDPOINT); no local Chromium needed` };
  } catch (error) {
    return {
      name: 'remote browser',
      ok: false,
      neededBy: 'browser server',
      detail: `${shown} does not answer: ${errorMessage(error).split('\n')[0]}`,
      fix: 'start that browser with --remote-debugging-port, check its address and --cdp-header, or unset FATHOM_CDP_ENDPOINT to launch a local Chromium',
    };
  }
}

/** The launched Chromium and its own sandbox (no remote browser configured). */
async function localBrowserChecks(root: boolean): Promise<Check[]> {
  const chromium = findChromium();
  const chromiumVersion = chromium ? await output(chromium, ['--version', '--no-sandbox']) : undefined;
  // The browser server runs Chromium with its own sandbox, as an unprivileged uid when it is root.
  const asBrowser = root ? asUserIfPossible(1_999_000_000) : [];
  const namespaces = [...(asBrowser ?? []), 'unshare', '--user', '--pid', '--fork', '/bin/true'];
  const sandboxWorks = asBrowser !== undefined && (await output(namespaces[0]!, namespaces.slice(1))) !== undefined;
  return [
    {
      name: 'chromium',
      ok: !!chromiumVersion,
      neededBy: 'browser server',
      detail: chromiumVersion ? `${chromiumVersion} (${chromium})` : 'not found (set FATHOM_CHROMIUM_PATH if it is elsewhere)',
      fix: `${APT} chromium   (or: npx playwright install chromium)`,
    },
    {
      name: 'browser sandbox',
      ok: sandboxWorks,
      neededBy: 'browser server',
      detail: sandboxWorks
        ? `Chromium's own sandbox (user namespaces)${root ? ', run as an unprivileged uid' : ''}`
        : `user namespaces are not permitted${root ? ' to an unprivileged uid (or setpriv is missing)' : ''}, so Chromium cannot sandbox its pages`,
      fix: 'enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) and install util-linux, or start the browser server with --no-browser-sandbox (less safe)',
    },
  ];
}

export async function runChecks(options: { cacheUrl?: string } = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  checks.push({
    name: 'node',
    ok: major > 24 || (major === 24 && minor >= 15),
    neededBy: 'everything',
    detail: `v${process.versions.node}`,
    fix: 'use "npm start" in the Fathom folder (it runs on the Node 24 that npm ci installs), or install Node.js 24.15 or newer',
  });

  // Sandboxes run as an unprivileged user: a root server drops to one of their own first.
  const root = process.getuid?.() === 0;
  const remote = await remoteBrowserCheck();
  if (remote) checks.push(remote);
  else checks.push(...(await localBrowserChecks(root)));

  const bwrapVersion = await output('bwrap', ['--version']);
  const drop = root ? asUserIfPossible(2_000_000_000) : [];
  const asSandbox = [...(drop ?? []), 'bwrap'];
  const bwrapWorks = bwrapVersion && drop ? (await output(asSandbox[0]!, [...asSandbox.slice(1), '--unshare-all', '--ro-bind', '/', '/', '--', '/bin/true'])) !== undefined : false;
  checks.push({
    name: 'bubblewrap',
    ok: bwrapWorks,
    neededBy: 'python sandbox',
    detail: bwrapVersion
      ? bwrapWorks
        ? `${bwrapVersion}; sandboxes run as ${root ? 'unprivileged host uids of their own (the server is root)' : "this user's uid"}`
        : `${bwrapVersion}, but unprivileged user namespaces are not permitted here`
      : 'not found',
    fix: bwrapVersion ? 'enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)' : `${APT} bubblewrap`,
  });

  const cgroupV1 = ['memory', 'pids'].every((controller) => writable(`/sys/fs/cgroup/${controller}`));
  const cgroupV2 = existsSync('/sys/fs/cgroup/cgroup.controllers') && writable('/sys/fs/cgroup');
  const cpu = cgroupV1 ? writable('/sys/fs/cgroup/cpu') : cgroupV2;
  checks.push({
    name: 'resource limits',
    ok: true,
    neededBy: 'python sandbox',
    detail: cgroupV1 || cgroupV2
      ? `cgroup ${cgroupV1 ? 'v1' : 'v2'} memory, pids${cpu ? ' and cpu' : ''} controllers (enforced per session)`
      : 'rlimits only (no writable cgroup controllers)',
  });
  const loop = root && existsSync('/dev/loop-control') && (await output('mkfs.ext4', ['-V'])) !== undefined;
  checks.push({
    name: 'workspace quota',
    ok: true,
    neededBy: 'python sandbox',
    detail: loop ? 'a loop-mounted ext4 file system per sandbox (enforced at every write)' : `checked during calls only (${root ? 'no loop devices or mkfs.ext4' : 'a hard quota needs a root server'})`,
  });
  checks.push({
    name: 'seccomp filter',
    ok: true,
    neededBy: 'python sandbox',
    detail: ['x64', 'arm64'].includes(process.arch) ? `on (${process.arch})` : `none for ${process.arch}: nested namespaces disabled only`,
  });

  const python = findPython();
  const pythonVersion = python ? await output(python, ['--version']) : undefined;
  checks.push({
    name: 'python3',
    ok: !!pythonVersion,
    neededBy: 'python sandbox',
    detail: pythonVersion ? `${pythonVersion} (${python})` : 'not found',
    fix: `${APT} python3`,
  });
  if (python && pythonVersion) {
    const script = `import importlib.util as u\nfor m in ${JSON.stringify(PYTHON_PACKAGES)}:\n    print(m, u.find_spec(m) is not None)`;
    const found = (await output(python, ['-c', script])) ?? '';
    for (const name of PYTHON_PACKAGES) {
      const ok = found.includes(`${name} True`);
      checks.push({ name: `python3-${name}`, ok, neededBy: 'python sandbox', detail: ok ? 'importable' : 'missing', fix: `${APT} python3-${name}` });
    }
  }

  // Node's built-in SQLite, with the FTS5 full-text module the local search index needs.
  let sqlite: string | undefined;
  let sqliteError = '';
  try {
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(':memory:');
    try {
      db.exec('CREATE VIRTUAL TABLE probe USING fts5(body)');
      sqlite = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
    } finally {
      db.close();
    }
  } catch (error) {
    sqliteError = error instanceof Error ? error.message : String(error);
  }
  checks.push({
    name: 'sqlite',
    ok: !!sqlite,
    neededBy: 'shared cache',
    detail: sqlite ? `SQLite ${sqlite} with FTS5 (node:sqlite)` : `node:sqlite unusable: ${sqliteError}`,
    fix: 'run Fathom on Node.js 24.15 or newer (npm start does)',
  });
  checks.push(await cacheCheck(options));

  const pdftotext = await output('pdftotext', ['-v']);
  checks.push({
    name: 'poppler-utils',
    ok: !!pdftotext,
    neededBy: 'files server: fast PDF text (pdf.js otherwise)',
    detail: pdftotext ? pdftotext.split('\n')[0]! : 'not found',
    fix: `${APT} poppler-utils`,
  });
  const pandoc = await output('pandoc', ['--version']);
  checks.push({
    name: 'pandoc',
    ok: !!pandoc,
    neededBy: 'benchmarks only',
    detail: pandoc ? pandoc.split('\n')[0]! : 'not found',
    fix: `${APT} pandoc`,
  });
  return checks;
}

export function renderChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((check) => check.name.length));
  return checks
    .map((check) => {
      const line = `${check.ok ? '✓' : '✗'} ${check.name.padEnd(width)}  ${check.detail}  [${check.neededBy}]`;
      return check.ok || !check.fix ? line : `${line}\n    fix: ${check.fix}`;
    })
    .join('\n');
}
