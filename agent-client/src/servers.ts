import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { FathomError, trackChild } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { isHttpEntry } from './config.js';
import type { ServerEntry, StdioServerEntry } from './config.js';
import { StderrTail } from './mcp.js';
import type { ConnectionEvent } from './mcp.js';

/** The servers `fathom <name>` runs, which serve Streamable HTTP with one MCP session per client. */
const FATHOM_SERVERS = ['search', 'browser', 'files', 'python-sandbox'];
const START_TIMEOUT_MS = 60_000;
/** A shared server that dies is started again, on its port, this many times in one eval. */
const MAX_RESTARTS = 3;

export interface SharedServersOptions {
  fathomBin: string;
  logger: Logger;
  /** Added to every server's environment, under the entry's own `env`. */
  env?: Record<string, string>;
  /** Tasks at once: sizes the servers' session and sandbox caps. */
  concurrency: number;
  timeoutMs?: number;
  onEvent?: (event: ConnectionEvent) => void;
}

interface Group {
  /** The config names this process serves, with the endpoint each is at. */
  names: { name: string; endpoint?: string }[];
  entry: StdioServerEntry;
  server: string;
  child?: ChildProcess;
  port?: number;
  stderr: StderrTail;
  restarts: number;
}

/**
 * Fathom's servers started once for a whole eval, over Streamable HTTP on loopback behind a
 * random bearer token. Each task opens its own MCP sessions on them (what a session makes, a
 * sandbox or a browser context, goes when the task closes it), instead of starting its own
 * processes. Other servers in the config (a third party's stdio server) keep one process per task.
 */
export class SharedServers {
  private closing = false;

  private constructor(
    /** The entries tasks connect to, in the config's order. */
    readonly mcpServers: Record<string, ServerEntry>,
    private readonly groups: Group[],
    private readonly token: string,
    private readonly options: SharedServersOptions,
  ) {}

  /** Starts one process per distinct Fathom server command (endpoints of one server share it); fails, naming each, if one does not come up. */
  static async start(servers: Record<string, ServerEntry>, options: SharedServersOptions): Promise<SharedServers> {
    const token = randomBytes(24).toString('hex');
    const groups = new Map<string, Group>();
    for (const [name, entry] of Object.entries(servers)) {
      if (entry.disabled) continue;
      const server = fathomServer(entry, options.fathomBin);
      if (!server || isHttpEntry(entry)) continue;
      const { args, endpoint } = withoutEndpoint(entry.args);
      const id = JSON.stringify([entry.command, args, entry.env, entry.cwd ?? null]);
      const group = groups.get(id) ?? { names: [], entry: { ...entry, args }, server, stderr: new StderrTail(), restarts: 0 };
      group.names.push({ name, ...(endpoint ? { endpoint } : {}) });
      groups.set(id, group);
    }
    const shared = new SharedServers({}, [...groups.values()], token, options);
    const started = await Promise.allSettled(shared.groups.map((group) => shared.launch(group)));
    const failed = started.flatMap((result, index) => (result.status === 'rejected' ? [`${shared.groups[index]!.names.map((item) => item.name).join(', ')}: ${(result.reason as Error).message}`] : []));
    if (failed.length) {
      await shared.close();
      throw new FathomError('unavailable', `The shared MCP servers did not start:\n${failed.join('\n')}`, {
        hint: 'Check the server commands in the agent config (fathom doctor lists missing system parts), or run each task with its own servers (--process-per-task).',
      });
    }
    for (const [name, entry] of Object.entries(servers)) {
      const group = shared.groups.find((candidate) => candidate.names.some((item) => item.name === name));
      const endpoint = group?.names.find((item) => item.name === name)?.endpoint;
      shared.mcpServers[name] = group
        ? { type: 'http', url: `http://127.0.0.1:${group.port!}/mcp${endpoint ? `/${encodeURIComponent(endpoint)}` : ''}`, headers: { authorization: `Bearer ${token}` }, ...(entry.tools ? { tools: entry.tools } : {}) }
        : entry;
    }
    return shared;
  }

  /** The shared processes: which config names each serves, its pid and port. */
  processes(): { server: string; names: string[]; pid: number | undefined; port: number | undefined }[] {
    return this.groups.map((group) => ({ server: group.server, names: group.names.map((item) => item.name), pid: group.child?.pid, port: group.port }));
  }

  /** Stops every shared process (SIGTERM: the servers close their sessions, sandboxes and browsers). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.groups.map(async (group) => {
        const child = group.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((done) => child.once('exit', () => done()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Starts the group's process (on its old port when it is a restart) and resolves once it serves. */
  private launch(group: Group): Promise<void> {
    const { entry } = group;
    const env = { ...this.options.env, ...entry.env };
    const args = [...entry.args, ...servingFlags(group, this.options.concurrency, env)];
    const child = spawn(entry.command, args, {
      env: { ...getDefaultEnvironment(), ...env, FATHOM_TOKEN: this.token, FATHOM_EXIT_WITH_PARENT: '1' },
      ...(entry.cwd ? { cwd: entry.cwd } : {}),
      stdio: ['pipe', 'ignore', 'pipe'],
      // Its own process group: a Ctrl-C at the terminal stops the eval's new runs, not the servers the running ones use.
      detached: true,
    });
    trackChild(child);
    group.child = child;
    const timeoutMs = this.options.timeoutMs ?? START_TIMEOUT_MS;
    return new Promise<void>((resolveStart, rejectStart) => {
      let ready = false;
      let partial = '';
      const timer = setTimeout(() => fail(`it did not start serving within ${timeoutMs / 1000} s`), timeoutMs);
      const fail = (reason: string) => {
        clearTimeout(timer);
        const tail = group.stderr.last(5);
        rejectStart(new Error(`${reason}${tail ? `; last stderr:\n${tail}` : ''}`));
        child.kill('SIGKILL');
      };
      child.stderr.on('data', (chunk: Buffer) => {
        group.stderr.push(chunk);
        if (ready) return;
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const url = servingUrl(line);
          if (!url) continue;
          ready = true;
          clearTimeout(timer);
          group.port = Number(new URL(url).port);
          this.options.logger.info('shared MCP server serving', { server: group.server, names: group.names.map((item) => item.name), url });
          resolveStart();
          return;
        }
      });
      child.once('error', (error) => fail(`it could not be started: ${error.message}`));
      child.once('exit', (code, signal) => {
        if (!ready) return fail(`it exited during start-up (${signal ?? `code ${code}`})`);
        if (!this.closing) this.restart(group, signal ?? `code ${code}`);
      });
    });
  }

  private restart(group: Group, how: string): void {
    const names = group.names.map((item) => item.name).join(', ');
    const tail = group.stderr.last(5);
    const detail = `${names} (shared, port ${group.port}) exited (${how})${tail ? `; last stderr:\n${tail}` : ''}`;
    this.options.logger.warn('shared MCP server exited', { server: group.server, how });
    for (const { name } of group.names) this.options.onEvent?.({ type: 'server_exit', server: name, detail });
    if (group.restarts >= MAX_RESTARTS) return;
    group.restarts++;
    this.launch(group).then(
      () => {
        for (const { name } of group.names) this.options.onEvent?.({ type: 'reconnect', server: name, detail: `${names} was started again on port ${group.port}` });
      },
      (error: unknown) => this.options.logger.warn('shared MCP server did not come back', { server: group.server, error: (error as Error).message }),
    );
  }
}

/** The Fathom server an entry runs (`node <fathomBin> <server> ...`), if it runs one. */
export function fathomServer(entry: ServerEntry, fathomBin: string): string | undefined {
  if (isHttpEntry(entry)) return undefined;
  const [script, server] = entry.args;
  if (!script || !server || !FATHOM_SERVERS.includes(server)) return undefined;
  const node = entry.command === process.execPath || ['node', 'node.exe'].includes(basename(entry.command));
  return node && sameFile(script, fathomBin, entry.cwd) ? server : undefined;
}

function sameFile(path: string, other: string, cwd?: string): boolean {
  const real = (file: string) => {
    try {
      return realpathSync(resolve(cwd ?? '.', file));
    } catch {
      return resolve(cwd ?? '.', file);
    }
  };
  return real(path) === real(other);
}

/** The arguments without `--endpoint NAME` (or `--endpoint=NAME`), and that name. */
function withoutEndpoint(args: string[]): { args: string[]; endpoint?: string } {
  const out: string[] = [];
  let endpoint: string | undefined;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '--endpoint' && index + 1 < args.length) endpoint = args[++index];
    else if (arg.startsWith('--endpoint=')) endpoint = arg.slice('--endpoint='.length);
    else out.push(arg);
  }
  return { args: out, ...(endpoint ? { endpoint } : {}) };
}

/**
 * HTTP on a loopback port (a free one the first time), info logs (the "serving" line gives the
 * port), and caps sized for `concurrency` tasks unless the entry sets them itself.
 */
function servingFlags(group: Group, concurrency: number, env: Record<string, string>): string[] {
  const flags = ['--transport', 'http', '--host', '127.0.0.1', '--port', String(group.port ?? 0), '--log-level', 'info'];
  const unset = (flag: string, variable: string) => !group.entry.args.some((arg) => arg === flag || arg.startsWith(`${flag}=`)) && env[variable] === undefined;
  if (unset('--max-sessions', 'FATHOM_MAX_SESSIONS')) flags.push('--max-sessions', String(Math.max(64, 2 * concurrency * group.names.length)));
  if (group.server === 'python-sandbox' && unset('--max-live-sessions', 'FATHOM_MAX_LIVE_SESSIONS')) flags.push('--max-live-sessions', String(Math.max(16, 4 * concurrency)));
  return flags;
}

/** The URL in a server's `serving over http` log line. */
function servingUrl(line: string): string | undefined {
  if (!line.includes('serving over http')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return entry.msg === 'serving over http' && typeof entry.url === 'string' ? entry.url : undefined;
  } catch {
    return undefined;
  }
}
