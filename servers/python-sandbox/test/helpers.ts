import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { describe } from 'vitest';
import { bwrapProblem } from '../src/backends/bwrap.js';
import { configSchema } from '../src/config.js';
import type { Config } from '../src/config.js';
import { createServer } from '../src/server.js';

export const PYTHON = '/usr/bin/python3';

const missing = await bwrapProblem(PYTHON);
if (missing && !process.env.CI) console.log(`Skipping bubblewrap sandbox tests: ${missing}`);
/** `describe` for tests that need bubblewrap: skipped with the reason printed where it is missing, failing in CI. */
export const describeBwrap = missing && !process.env.CI ? describe.skip : describe;

export interface TestDirs {
  base: string;
  roots: string;
  output: string;
  state: string;
}

export function testDirs(prefix: string): TestDirs {
  const base = mkdtempSync(join(tmpdir(), prefix));
  // A root server's sandboxes run as users of their own: they pass through here to their workspaces.
  chmodSync(base, 0o711);
  const dirs = { base, roots: join(base, 'roots'), output: join(base, 'output'), state: join(base, 'state') };
  for (const dir of [dirs.roots, dirs.output, dirs.state]) mkdirSync(dir);
  return dirs;
}

export function sandboxConfig(dirs: TestDirs, flags: Record<string, string> = {}): Config {
  return loadConfig(configSchema, {
    server: 'python-sandbox',
    flags: {
      backend: 'bwrap',
      python: PYTHON,
      roots: dirs.roots,
      'output-dir': dirs.output,
      'state-dir': dirs.state,
      'cache-mode': 'off',
      'warm-pool': '1',
      ...flags,
    },
    env: {},
    cwd: dirs.base,
  });
}

export async function connect(config: Config): Promise<InMemoryConnection> {
  return connectInMemory(await createServer(config));
}

export interface CallResult {
  text: string;
  structured: Record<string, unknown> | undefined;
  isError: boolean;
  images: string[];
}

export async function call(connection: InMemoryConnection, name: string, args: Record<string, unknown>): Promise<CallResult> {
  const result = await connection.client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  const content = (result.content ?? []) as { type: string; data?: string; mimeType?: string }[];
  return {
    text: textOf(result),
    structured: result.structuredContent as Record<string, unknown> | undefined,
    isError: result.isError === true,
    images: content.filter((block) => block.type === 'image').map((block) => block.mimeType ?? ''),
  };
}

/** Creates a session through the tool and returns its id. */
export async function newSession(connection: InMemoryConnection, args: Record<string, unknown> = {}): Promise<string> {
  const created = await call(connection, 'python_create_session', args);
  if (created.isError) throw new Error(created.text);
  return String(created.structured?.session_id);
}

/** The backend's id in a sandbox id (`<replica>.sbx_…`): what its cgroups and folders are named after. */
export function backendId(id: string): string {
  return id.slice(id.indexOf('.') + 1);
}

/** Host pids of the processes of the server `serverPid`'s sandbox `id` (all its sandboxes when omitted), from their cgroups. */
export function sandboxPids(id?: string, serverPid = process.pid): number[] {
  const root = '/sys/fs/cgroup/pids/fathom';
  const v2 = '/sys/fs/cgroup/fathom';
  const parent = existsSync(root) ? root : v2;
  const groups = existsSync(parent) ? readdirSync(parent).filter((name) => name.startsWith(`${serverPid}-${id === undefined ? '' : backendId(id)}`)) : [];
  return groups.flatMap((name) => {
    try {
      return readFileSync(join(parent, name, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** The fields of /proc/<pid>/status as the host sees them. */
export function hostStatus(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return fields;
}

/** Runs `code` in a session through python_run. */
export function runPython(connection: InMemoryConnection, session: string, code: string, timeout_s = 30): Promise<CallResult> {
  return call(connection, 'python_run', { session_id: session, code, timeout_s });
}

/** The repr of `code`'s last expression; a Python error fails the test with its traceback. */
export async function pythonValue(connection: InMemoryConnection, session: string, code: string): Promise<string> {
  const result = await runPython(connection, session, code);
  if (result.structured?.error) throw new Error(JSON.stringify(result.structured.error));
  return String(result.structured?.value);
}
