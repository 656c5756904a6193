import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserProgram } from '../src/launch.js';
import { CHROMIUM } from './chromium.js';

/**
 * How the README says to start a Chromium for --cdp-endpoint (plus --no-sandbox: these machines run
 * the tests as root). The WebRTC policy is the operator's part: no proxy sees UDP.
 */
export const REMOTE_CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--webrtc-ip-handling-policy=disable_non_proxied_udp',
];

/** A Chromium of the test's own with its DevTools endpoint open, as browserless and the like offer one. */
export interface RemoteChromium {
  /** http://127.0.0.1:PORT: stays the same across restarts. */
  httpEndpoint: string;
  /** ws://127.0.0.1:PORT/devtools/browser/ID of the running browser. */
  wsEndpoint: string;
  running(): boolean;
  /** SIGKILL, as a crash or a lost machine. */
  kill(): Promise<void>;
  /** Starts it again on the same port, with a fresh profile. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

const DEVTOOLS_LINE = /DevTools listening on (ws:\/\/[^\s]+)/;

async function startProcess(port: number, profile: string, extraArgs: readonly string[]): Promise<{ child: ChildProcess; wsEndpoint: string }> {
  const args = [...extraArgs, `--remote-debugging-port=${port}`, `--user-data-dir=${profile}`, 'about:blank'];
  const child = spawn(browserProgram(CHROMIUM!), args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const wsEndpoint = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools endpoint within 30 s:\n${output}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = DEVTOOLS_LINE.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}) before it listened:\n${output}`));
    });
  });
  child.stderr!.resume();
  return { child, wsEndpoint };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    // Its own process group: the browser with its renderers and zygote.
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
  return exited;
}

/**
 * `extraArgs` go after REMOTE_CHROMIUM_ARGS (e.g. the browser's own --host-resolver-rules);
 * `webrtcPolicy: false` leaves out the WebRTC flag, as an operator who skipped it would.
 */
export async function startRemoteChromium(extraArgs: readonly string[] = [], options: { webrtcPolicy?: boolean } = {}): Promise<RemoteChromium> {
  const base = options.webrtcPolicy === false ? REMOTE_CHROMIUM_ARGS.filter((arg) => !arg.startsWith('--webrtc-ip-handling-policy=')) : REMOTE_CHROMIUM_ARGS;
  const dir = mkdtempSync(join(tmpdir(), 'fathom-remote-chromium-'));
  let generation = 0;
  const profile = () => join(dir, `profile-${generation++}`);
  let { child, wsEndpoint } = await startProcess(0, profile(), [...base, ...extraArgs]);
  const port = Number(new URL(wsEndpoint).port);
  return {
    httpEndpoint: `http://127.0.0.1:${port}`,
    get wsEndpoint() {
      return wsEndpoint;
    },
    running: () => child.exitCode === null && child.signalCode === null,
    kill: () => stop(child),
    async restart() {
      await stop(child);
      ({ child, wsEndpoint } = await startProcess(port, profile(), [...base, ...extraArgs]));
    },
    async close() {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A DevTools endpoint that asks for a header, as a hosted browser asks for its token: an HTTP and
 * WebSocket relay in front of `target` (http://HOST:PORT) that answers 401 to any request without
 * `name: value`. Chromium writes the WebSocket URL of /json/version after the Host header it is
 * asked with, so the URL it gives goes through the relay as well.
 */
export interface GuardedEndpoint {
  url: string;
  /** Requests let through, and refused for want of the header. */
  accepted: number;
  refused: number;
  close(): Promise<void>;
}

export async function startHeaderGate(target: () => string, name: string, value: string): Promise<GuardedEndpoint> {
  const sockets = new Set<Socket>();
  const counts = { accepted: 0, refused: 0 };
  const allowed = (incoming: IncomingMessage) => {
    const ok = incoming.headers[name.toLowerCase()] === value;
    counts[ok ? 'accepted' : 'refused']++;
    return ok;
  };
  const server: Server = createServer((incoming, outgoing) => {
    if (!allowed(incoming)) return void outgoing.writeHead(401, { 'content-type': 'text/plain' }).end('token required');
    const upstream = new URL(target());
    const forwarded = httpRequest(
      { host: upstream.hostname, port: upstream.port, path: incoming.url, method: incoming.method, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.writeHead(502).end());
    incoming.pipe(forwarded);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (incoming: IncomingMessage, client: Socket, head: Buffer) => {
    if (!allowed(incoming)) return void client.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
    const upstream = new URL(target());
    const socket = connect({ host: upstream.hostname, port: Number(upstream.port) }, () => {
      const lines = [`${incoming.method} ${incoming.url} HTTP/1.1`];
      for (let i = 0; i < incoming.rawHeaders.length; i += 2) lines.push(`${incoming.rawHeaders[i]}: ${incoming.rawHeaders[i + 1]}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) socket.write(head);
      socket.pipe(client);
      client.pipe(socket);
    });
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => client.destroy());
    client.on('error', () => socket.destroy());
    client.on('close', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get accepted() {
      return counts.accepted;
    },
    get refused() {
      return counts.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
