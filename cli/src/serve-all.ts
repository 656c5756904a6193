import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { killChildren, trackChild } from '@fathom/core';
import { SERVER_NAMES, mainScript, serverPort } from './servers.js';
import type { ServerName } from './servers.js';

/** One server as `fathom serve` runs it: its profile and tool groups, from its configuration. */
export interface ServedServer {
  profile: string;
  endpoints: string[];
}

export interface ServeSettings {
  servers: readonly ServerName[];
  host: string;
  basePort: number;
  fathomBin: string;
  /** Handed to every server as --config. */
  config?: string;
  /** The --profile given for every server, if one was. */
  profile?: string;
  settings: Partial<Record<ServerName, ServedServer>>;
}

export interface ServeAllOptions extends ServeSettings {
  /** Lines for the person at the terminal (stderr). */
  say(line: string): void;
}

interface Child {
  name: ServerName;
  port: number;
  process?: ChildProcess;
  restarts: number;
  healthy: boolean;
}

/** What /healthz says of the server answering on a port. */
interface Health {
  server?: unknown;
  pid?: unknown;
}

/** Whether anything accepts connections on the port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/**
 * Waits until the child itself answers /healthz: the right server name and the child's pid, so a
 * server another process runs on the port is never taken for it. Resolves undefined once it
 * does, or with what went wrong.
 */
async function waitHealthy(host: string, child: Child, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  const taken = (what: string) => `port ${child.port} is taken by another process (${what})`;
  while (Date.now() < deadline) {
    const proc = child.process;
    if (proc?.exitCode !== null && proc?.exitCode !== undefined) {
      return (await listening(host, child.port)) ? taken('something is listening there') : `it exited with code ${proc.exitCode}; see its log above`;
    }
    let answer: Response | undefined;
    try {
      answer = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${child.port}/healthz`, { signal: AbortSignal.timeout(1000) });
    } catch {
      // not listening yet
    }
    if (answer) {
      const health = (await answer.json().catch(() => ({}))) as Health;
      if (answer.ok && health.server === child.name && health.pid === proc?.pid) return undefined;
      if (health.server !== undefined && health.pid !== undefined) return taken(`another fathom ${String(health.server)} server, pid ${String(health.pid)}`);
      return taken(`it answers HTTP ${answer.status}, not as the ${child.name} server started`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return `it did not answer on port ${child.port} within ${timeoutMs / 1000} s; see its log above`;
}

/**
 * Runs every server as its own child process over HTTP on its own port, restarts one that
 * dies (with backoff), and resolves once all answer /healthz. Rejects if one never comes up.
 */
export async function serveAll(options: ServeAllOptions): Promise<{ stop(): Promise<void> }> {
  let stopping = false;
  const probeHost = options.host === '0.0.0.0' ? '127.0.0.1' : options.host === '::' ? '::1' : options.host;
  const children: Child[] = options.servers.map((name) => ({ name, port: serverPort(name, options.basePort), restarts: 0, healthy: false }));

  const start = (child: Child) => {
    const { profile = 'default' } = options.settings[child.name] ?? {};
    const proc = spawn(
      process.execPath,
      [mainScript(child.name), '--transport', 'http', '--host', options.host, '--port', String(child.port), '--profile', profile, ...(options.config ? ['--config', options.config] : [])],
      { stdio: ['pipe', 2, 2], env: { ...process.env, FATHOM_EXIT_WITH_PARENT: '1' } },
    );
    child.process = trackChild(proc);
    proc.once('exit', (code, signal) => {
      if (stopping || !child.healthy) return;
      child.healthy = false;
      child.restarts++;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(child.restarts, 6));
      options.say(`${child.name} exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s`);
      setTimeout(() => {
        if (stopping) return;
        start(child);
        void waitHealthy(probeHost, child, 20_000).then((problem) => {
          child.healthy = problem === undefined;
          options.say(problem === undefined ? `${child.name} is back on port ${child.port}` : `${child.name} did not come back: ${problem}`);
        });
      }, delay).unref();
    });
  };

  const stop = async () => {
    stopping = true;
    await killChildren();
  };

  for (const child of children) start(child);
  const problems = await Promise.all(children.map((child) => waitHealthy(probeHost, child, 30_000)));
  problems.forEach((problem, index) => (children[index]!.healthy = problem === undefined));
  const failed = children.flatMap((child, index) => (problems[index] === undefined ? [] : [`${child.name} did not start: ${problems[index]!}`]));
  if (failed.length > 0) {
    await stop();
    const portTaken = problems.some((problem) => problem?.startsWith('port '));
    const free = portTaken ? await freeBasePort(probeHost, options.basePort) : undefined;
    throw new Error(`${failed.join('; ')}${portTaken ? `. Pick another --base-port${free ? ` (${free} and the next ${SERVER_NAMES.length - 1} are free)` : ''}, or stop that process` : ''}`);
  }
  return { stop };
}

/** A base port from which every server's port is free, found by trying the next hundreds. */
async function freeBasePort(host: string, from: number): Promise<number | undefined> {
  for (let base = Math.ceil((from + 1) / 100) * 100 + 31; base + SERVER_NAMES.length <= 65535 && base < from + 2000; base += 100) {
    const taken = await Promise.all(SERVER_NAMES.map((name) => listening(host, serverPort(name, base))));
    if (!taken.includes(true)) return base;
  }
  return undefined;
}
