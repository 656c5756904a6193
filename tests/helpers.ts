import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'vitest';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const FATHOM_BIN = `${ROOT}bin/fathom.js`;
export const SERVERS = ['search', 'browser', 'files', 'python-sandbox'] as const;

/** Each server's tools in its default profile, in the order it lists them. */
export const SERVER_TOOLS: Record<(typeof SERVERS)[number], readonly string[]> = {
  search: ['web_search', 'web_fetch', 'extract'],
  browser: [
    'browser_navigate',
    'browser_back',
    'browser_forward',
    'browser_reload',
    'browser_open',
    'browser_snapshot',
    'browser_click',
    'browser_type',
    'browser_select',
    'browser_press',
    'browser_hover',
    'browser_scroll',
    'browser_wait_for',
    'browser_find',
    'browser_screenshot',
    'browser_tabs',
    'browser_downloads',
  ],
  files: ['read_document', 'document_info', 'search_document', 'extract_tables', 'list_files', 'convert_to_markdown'],
  'python-sandbox': [
    'python_create_session',
    'python_run',
    'shell_run',
    'sandbox_write_file',
    'sandbox_read_file',
    'sandbox_list_files',
    'sandbox_upload',
    'sandbox_download_url',
    'sandbox_export',
    'python_close_session',
  ],
};

/** Each server's tools in its mirothinker profile, in the order it lists them (all of its endpoints together; optional ones off). */
export const MIROTHINKER_TOOLS: Record<(typeof SERVERS)[number], readonly string[]> = {
  search: ['google_search', 'scrape_and_extract_info'],
  // MiroThinker was trained with no browser or files server: both profiles share these tools.
  browser: SERVER_TOOLS.browser,
  files: SERVER_TOOLS.files,
  'python-sandbox': ['create_sandbox', 'run_command', 'run_python_code', 'upload_file_from_local_to_sandbox', 'download_file_from_internet_to_sandbox'],
};

export function serverMain(name: string): string {
  return `${ROOT}servers/${name}/dist/main.js`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** A run of consecutive free ports (checked one by one; retried from another start if taken). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const taken = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        new Promise<boolean>((resolve) => {
          const probe = createServer();
          probe.once('error', () => resolve(true));
          probe.listen(base + i, '127.0.0.1', () => probe.close(() => resolve(false)));
        }),
      ),
    );
    if (!taken.includes(true)) return base;
  }
  throw new Error('no run of free ports found');
}

export interface Spawned {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawned servers keep their cache here, never in the user's home. */
export const TEST_CACHE = join(mkdtempSync(join(tmpdir(), 'fathom-test-cache-')), 'cache.sqlite');

export function spawnNode(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(process.execPath, args, { env: { ...process.env, FATHOM_LOG_LEVEL: 'warn', FATHOM_CACHE_PATH: TEST_CACHE, ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function healthy(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
  } catch {
    return false;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process below `pid`, read from /proc (Linux). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // the process exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      queue.push(child);
      found.push(child);
    }
  }
  return found;
}

/** Starts one server over HTTP on a free port and waits until it answers /healthz. */
export async function startHttpServer(name: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const port = await freePort();
  const spawned = spawnNode([serverMain(name), '--transport', 'http', '--port', String(port), ...extraArgs], env);
  await waitFor(() => healthy(port), 15_000, `${name} on port ${port}`);
  return { ...spawned, port, url: `http://127.0.0.1:${port}/mcp` };
}

/** True on a CI machine (`CI` set to anything but `false` or `0`), where every system part is installed. */
export const IN_CI = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/**
 * Whether to skip the tests that need a system part (a program, a library) this machine lacks.
 * Elsewhere they skip, with the reason printed; in CI they never skip, and one more test fails
 * naming what is missing and how to install it.
 */
export function skipWithout(part: string, present: boolean, install: string): boolean {
  if (present) return false;
  if (IN_CI) {
    it(`has ${part} installed`, () => {
      throw new Error(`${part} is missing on this CI machine, so the tests that need it fail: ${install}`);
    });
    return false;
  }
  console.log(`Skipping the tests that need ${part}: not found (${install})`);
  return true;
}
