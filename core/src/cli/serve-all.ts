import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { killChildren, trackChild } from '../children.js';
import { mainScript, serverPort } from './servers.js';
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

async function waitHealthy(url: string, child: Child, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process?.exitCode !== null && child.process?.exitCode !== undefined) return false;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/**
 * The mcpServers entries for a host: one per server, or, where a server's profile names its tool
 * groups (the server names a model knows, such as tool-python), one per group.
 */
export function hostConfig(options: ServeSettings, token?: string) {
  const shownHost = options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  const http: Record<string, unknown> = {};
  const stdio: Record<string, unknown> = {};
  for (const name of options.servers) {
    const { profile = 'default', endpoints = [] } = options.settings[name] ?? {};
    const entries = endpoints.length ? endpoints.map((group) => ({ key: group, path: `/mcp/${group}`, args: ['--endpoint', group] })) : [{ key: `fathom-${name}`, path: '/mcp', args: [] }];
    for (const entry of entries) {
      http[entry.key] = {
        type: 'http',
        url: `http://${shownHost}:${serverPort(name, options.basePort)}${entry.path}`,
        ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
      };
      stdio[entry.key] = {
        command: 'node',
        args: [options.fathomBin, name, ...(profile === 'default' ? [] : ['--profile', profile]), ...(options.config ? ['--config', options.config] : []), ...entry.args],
      };
    }
  }
  return { http: { mcpServers: http }, stdio: { mcpServers: stdio } };
}

/**
 * Runs every server as its own child process over HTTP on its own port, restarts one that
 * dies (with backoff), and resolves once all answer /healthz. Rejects if one never comes up.
 */
export async function serveAll(options: ServeAllOptions): Promise<{ stop(): Promise<void> }> {
  let stopping = false;
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
        void waitHealthy(`http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${child.port}/healthz`, child, 20_000).then((ok) => {
          child.healthy = ok;
          options.say(ok ? `${child.name} is back on port ${child.port}` : `${child.name} did not come back; see its log above`);
        });
      }, delay).unref();
    });
  };

  const stop = async () => {
    stopping = true;
    await killChildren();
  };

  for (const child of children) start(child);
  const probeHost = options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  const results = await Promise.all(children.map((child) => waitHealthy(`http://${probeHost}:${child.port}/healthz`, child, 30_000)));
  results.forEach((ok, index) => (children[index]!.healthy = ok));
  const failed = children.filter((child) => !child.healthy);
  if (failed.length > 0) {
    await stop();
    throw new Error(
      `${failed.map((child) => `${child.name} (port ${child.port})`).join(', ')} did not start; see the log above ` +
        `(a port in use? choose others with --base-port)`,
    );
  }
  return { stop };
}
