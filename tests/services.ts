import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, skipWithout, waitFor } from './helpers.js';

// Redis and nginx for the tests that need them: each test starts its own on a free loopback port,
// with its files in a temporary folder, and stops it; no system service is used.

function executable(name: string, dirs = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']): string | undefined {
  return dirs.map((dir) => join(dir, name)).find((path) => existsSync(path));
}

export const REDIS_SERVER = executable('redis-server');
export const NGINX = executable('nginx');

/** True when the tests that need Redis must be skipped (outside CI, with the reason printed). */
export const skipWithoutRedis = () => skipWithout('redis-server', REDIS_SERVER !== undefined, 'apt-get install redis-server (scripts/setup-system.sh does)');
export const skipWithoutNginx = () => skipWithout('nginx', NGINX !== undefined, 'apt-get install nginx (scripts/setup-system.sh does)');

/** Whether something answers on the port (a TCP connect succeeds). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One PING; true on PONG. */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.startsWith('+PONG'));
      }
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface RedisService {
  port: number;
  /** redis://127.0.0.1:<port>/0 */
  url: string;
  /** Kills the server (SIGKILL): every connection drops, nothing is saved. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisService> {
  if (!REDIS_SERVER) throw new Error('redis-server is not installed');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fathom-test-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { stdio: 'ignore' });
    await waitFor(() => pong(port), 15_000, `redis-server on port ${port}`);
  };
  const kill = async () => {
    if (!child) return;
    child.kill('SIGKILL');
    await exited(child);
    child = undefined;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface NginxService {
  port: number;
  url: string;
  /** The folder holding nginx.conf and the logs. */
  dir: string;
  stop(): Promise<void>;
}

/**
 * nginx in the foreground on a free port, with `http` holding the body of its http block; `PORT`
 * in it is replaced by the port it listens on.
 */
export async function startNginx(http: string): Promise<NginxService> {
  if (!NGINX) throw new Error('nginx is not installed');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fathom-test-nginx-'));
  const conf = [
    'daemon off;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `  access_log ${dir}/access.log;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`),
    http.replaceAll('PORT', String(port)),
    '}',
  ].join('\n');
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${errors}`);
    return listening(port);
  }, 15_000, `nginx on port ${port}`);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TcpProxy {
  port: number;
  /** Drops every connection and refuses new ones, as a network outage would. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** A TCP relay on a free loopback port to `targetPort`, which a test can cut and restore. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    port,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
