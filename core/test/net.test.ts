import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/log.js';
import { HttpClient } from '../src/net/index.js';
import type { NetOptions } from '../src/net/index.js';

interface TestServer {
  url: string;
  port: number;
  origin: string;
  requests: IncomingMessage[];
  connections: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

const servers: Server[] = [];
const clients: HttpClient[] = [];
const quiet = createLogger('net-test', { level: 'silent' });
const ALLOW_LOOPBACK = ['127.0.0.1', 'localhost'];

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function serve(handler: Handler): Promise<TestServer> {
  const state: TestServer = { url: '', port: 0, origin: '', requests: [], connections: 0 };
  const server = createServer((req, res) => {
    state.requests.push(req);
    handler(req, res, state.requests.length - 1);
  });
  server.on('connection', () => state.connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.origin = `http://127.0.0.1:${state.port}`;
  state.url = `${state.origin}/`;
  return state;
}

function client(options: NetOptions = {}): HttpClient {
  const created = new HttpClient({ logger: quiet, retryBaseMs: 10, ...options });
  clients.push(created);
  return created;
}

const loopbackClient = (options: NetOptions = {}) => client({ allowHosts: ALLOW_LOOPBACK, ...options });

/** The clock the client's waits and time limits read; sockets and setImmediate stay real. */
const useFakeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });

/** Lets real I/O run until `done` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 100_000; turn++) {
    if (done()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Moves the fake clock on `stepMs` at a time, real I/O running between steps, until `done` holds. */
async function advanceUntil(done: () => boolean, stepMs: number, what: string): Promise<void> {
  for (let step = 0; step < 10_000; step++) {
    if (done()) return;
    await vi.advanceTimersByTimeAsync(stepMs);
    for (let turn = 0; turn < 20 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Whether a promise has settled yet. */
function settled(promise: Promise<unknown>): () => boolean {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return () => done;
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string; hint?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string; hint?: string; details?: Record<string, unknown> };
  }
  throw new Error('expected the request to fail');
}

const ok: Handler = (_req, res) => res.end('hello');

describe('SSRF guard', () => {
  it('refuses loopback literals by default without connecting', async () => {
    const server = await serve(ok);
    const http = client();
    for (const url of [
      server.url,
      `http://[::1]:${server.port}/`,
      `http://0.0.0.0:${server.port}/`,
      `http://[::ffff:127.0.0.1]:${server.port}/`,
      `http://2130706433:${server.port}/`,
      `http://0x7f.1:${server.port}/`,
      `http://127.1:${server.port}/`,
    ]) {
      const error = await failure(http.request(url));
      expect(error.code, url).toBe('blocked_address');
      expect(error.message).toMatch(/^Refused to fetch http:\/\/.*: .* is an? (loopback|unspecified) address$/);
      expect(error.hint).toContain('FATHOM_ALLOW_PRIVATE_NETWORK=true');
    }
    expect(server.connections).toBe(0);
  });

  it('refuses a hostname that resolves to loopback, after DNS and before connecting', async () => {
    const server = await serve(ok);
    const error = await failure(client().request(`http://localhost:${server.port}/x`));
    expect(error.code).toBe('blocked_address');
    expect(error.message).toMatch(new RegExp(`^Refused to fetch http://localhost:${server.port}/x: it resolves to .*, a loopback address$`));
    expect(error.hint).toContain('FATHOM_EGRESS_ALLOW=localhost');
    expect(server.connections).toBe(0);
  });

  it('refuses metadata and private literals', async () => {
    const http = client();
    for (const [url, kind] of [
      ['http://169.254.169.254/latest/meta-data/', 'a cloud metadata address'],
      ['http://[fd00:ec2::254]/', 'a cloud metadata address'],
      ['http://10.0.0.5/', 'a private address'],
      ['https://192.168.0.1/', 'a private address'],
      ['http://[fe80::1]/', 'a link-local address'],
      ['http://100.64.0.1/', 'a carrier-grade NAT address'],
    ] as const) {
      const error = await failure(http.request(url, { retries: 3 }));
      expect(error.code, url).toBe('blocked_address');
      expect(error.message).toContain(kind);
    }
  });

  it('fetches loopback when allowed by host name, IP or CIDR, or by allowPrivateNetwork', async () => {
    const server = await serve(ok);
    expect((await loopbackClient().request(server.url)).text()).toBe('hello');
    expect((await loopbackClient().request(`http://localhost:${server.port}/`)).status).toBe(200);
    expect((await client({ allowHosts: ['127.0.0.0/8'] }).request(server.url)).status).toBe(200);
    expect((await client({ allowPrivateNetwork: true }).request(server.url)).status).toBe(200);
    expect(server.requests).toHaveLength(4);
  });

  it('checks every redirect hop', async () => {
    const server = await serve((req, res) => {
      const target = req.url === '/meta' ? 'http://169.254.169.254/latest/meta-data/' : 'http://10.0.0.5/admin';
      res.writeHead(302, { location: target }).end();
    });
    const http = client({ allowHosts: ['127.0.0.1'] });
    const meta = await failure(http.request(`${server.origin}/meta`));
    expect(meta.code).toBe('blocked_address');
    expect(meta.message).toContain('169.254.169.254');
    const privateHop = await failure(http.request(`${server.origin}/private`));
    expect(privateHop.code).toBe('blocked_address');
    expect(privateHop.message).toContain('10.0.0.5 is a private address');
    expect(server.requests).toHaveLength(2);
  });

  it('refuses non-http schemes and invalid URLs', async () => {
    const http = client();
    for (const url of ['ftp://example.com/file', 'file:///etc/passwd', 'javascript:alert(1)', 'data:text/plain,hi', 'not a url']) {
      expect((await failure(http.request(url))).code, url).toBe('invalid_argument');
    }
  });

  it('refuses a redirect to a non-http scheme', async () => {
    const server = await serve((_req, res) => res.writeHead(301, { location: 'file:///etc/passwd' }).end());
    expect((await failure(loopbackClient().request(server.url))).code).toBe('invalid_argument');
  });
});

describe('redirects', () => {
  it('follows a chain and reports the final URL and the hops', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/a') res.writeHead(301, { location: '/b' }).end();
      else if (req.url === '/b') res.writeHead(307, { location: `${server.origin}/c?x=1` }).end();
      else res.end(`at ${req.url}`);
    });
    const response = await loopbackClient().request(`${server.origin}/a`);
    expect(response.status).toBe(200);
    expect(response.url).toBe(`${server.origin}/c?x=1`);
    expect(response.redirects).toEqual([`${server.origin}/a`, `${server.origin}/b`]);
    expect(response.text()).toBe('at /c?x=1');
  });

  it('switches to GET without a body on 303 and keeps the method on 307', async () => {
    const bodies: string[] = [];
    const server = await serve((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${body}`);
        if (req.url === '/see-other') res.writeHead(303, { location: '/done' }).end();
        else if (req.url === '/temporary') res.writeHead(307, { location: '/done' }).end();
        else res.end();
      });
    });
    const http = loopbackClient();
    await http.request(`${server.origin}/see-other`, { method: 'POST', body: 'payload' });
    await http.request(`${server.origin}/temporary`, { method: 'POST', body: 'payload' });
    expect(bodies).toEqual(['POST /see-other payload', 'GET /done ', 'POST /temporary payload', 'POST /done payload']);
  });

  it('drops credentials when the origin changes', async () => {
    const other = await serve(ok);
    const server = await serve((req, res) => {
      res.writeHead(302, { location: req.url === '/same' ? '/end' : `${other.origin}/end` }).end();
    });
    const http = loopbackClient();
    const headers = { authorization: 'Bearer secret', cookie: 'a=b', 'x-keep': 'yes' };
    await http.request(`${server.origin}/same`, { headers });
    await http.request(`${server.origin}/cross`, { headers });
    const sameOriginHop = server.requests[1];
    const crossOriginHop = other.requests[0];
    expect(sameOriginHop?.headers.authorization).toBe('Bearer secret');
    expect(crossOriginHop?.headers.authorization).toBeUndefined();
    expect(crossOriginHop?.headers.cookie).toBeUndefined();
    expect(crossOriginHop?.headers['x-keep']).toBe('yes');
  });

  it('fails after too many redirects', async () => {
    const server = await serve((_req, res) => res.writeHead(302, { location: '/loop' }).end());
    const error = await failure(loopbackClient({ maxRedirects: 3 }).request(server.url));
    expect(error.code).toBe('upstream');
    expect(error.message).toContain('Too many redirects (more than 3)');
    expect(server.requests).toHaveLength(4);
  });

  it('returns the redirect itself when followRedirects is false', async () => {
    const server = await serve((_req, res) => res.writeHead(302, { location: '/elsewhere' }).end('moved'));
    const response = await loopbackClient().request(server.url, { followRedirects: false });
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/elsewhere');
    expect(response.redirects).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });
});

describe('size cap', () => {
  it('refuses early when Content-Length is over the cap', async () => {
    const server = await serve((_req, res) => res.writeHead(200, { 'content-length': '1000' }).end('x'.repeat(1000)));
    const error = await failure(loopbackClient().request(server.url, { maxBytes: 100 }));
    expect(error.code).toBe('too_large');
    expect(error.details).toMatchObject({ maxBytes: 100, contentLength: 1000 });
    expect(error.hint).toMatch(/smaller/);
  });

  it('stops reading an endless chunked body once it passes the cap', async () => {
    let closed = false;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('y'.repeat(16 * 1024)), 1);
      res.on('close', () => {
        closed = true;
        clearInterval(timer);
      });
    });
    const error = await failure(loopbackClient().request(server.url, { maxBytes: 64 * 1024 }));
    expect(error.code).toBe('too_large');
    await expect.poll(() => closed).toBe(true);
  });

  it('caps the decompressed size and decodes gzip within the cap', async () => {
    const zipped = gzipSync(Buffer.alloc(1024 * 1024, 'a'));
    const server = await serve((_req, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(zipped));
    const http = loopbackClient();
    expect((await failure(http.request(server.url, { maxBytes: 64 * 1024 }))).code).toBe('too_large');
    const response = await http.request(server.url);
    expect(response.body.length).toBe(1024 * 1024);
    expect(response.headers['content-encoding']).toBeUndefined();
  });
});

describe('timeouts and cancellation', () => {
  it('times out on a server that never answers', async () => {
    useFakeClock();
    const server = await serve(() => undefined);
    const pending = failure(loopbackClient({ retries: 0 }).request(server.url, { timeoutMs: 200 }));
    const done = settled(pending);
    await until(() => server.requests.length === 1, 'the request');
    await vi.advanceTimersByTimeAsync(199);
    expect(done()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await pending;
    expect(error.code).toBe('timeout');
    expect(error.message).toBe(`Timed out after 0.2 s fetching ${server.url}`);
  });

  it('counts the body in the timeout and retries idempotent requests after a timeout', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    useFakeClock();
    const pending = failure(loopbackClient({ retries: 1, timeoutMs: 150 }).request(server.url));
    const done = settled(pending);
    await until(() => server.requests.length === 1, 'the first request');
    await vi.advanceTimersByTimeAsync(150);
    expect(done()).toBe(false);
    await advanceUntil(() => server.requests.length === 2, 5, 'the retry');
    await vi.advanceTimersByTimeAsync(150);
    const error = await pending;
    expect(error.code).toBe('timeout');
    expect(server.requests).toHaveLength(2);
  });

  it('reports an aborted signal as cancelled', async () => {
    const server = await serve(() => undefined);
    const controller = new AbortController();
    const pending = failure(loopbackClient().request(server.url, { signal: controller.signal }));
    await until(() => server.requests.length === 1, 'the request');
    controller.abort();
    const error = await pending;
    expect(error.code).toBe('cancelled');
    expect((await failure(loopbackClient().request(server.url, { signal: AbortSignal.abort() }))).code).toBe('cancelled');
  });
});

describe('retries', () => {
  it('honours Retry-After on 503', async () => {
    useFakeClock();
    const seen: number[] = [];
    const server = await serve((_req, res, index) => {
      seen.push(Date.now());
      if (index === 0) res.writeHead(503, { 'retry-after': '1' }).end('busy');
      else res.end('ready');
    });
    const pending = loopbackClient().request(server.url);
    await until(() => seen.length === 1, 'the first request');
    await advanceUntil(() => seen.length === 2, 50, 'the retry');
    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.text()).toBe('ready');
    expect(seen).toHaveLength(2);
    expect(seen[1]! - seen[0]!).toBeGreaterThanOrEqual(1000);
    expect(seen[1]! - seen[0]!).toBeLessThan(3000);
  });

  it('fails fast with rate_limited when Retry-After is too long', async () => {
    useFakeClock();
    const server = await serve((_req, res) => res.writeHead(429, { 'retry-after': '120' }).end());
    const started = Date.now();
    // The clock never moves: had the client waited, this would never settle.
    const error = await failure(loopbackClient({ maxRetryAfterMs: 30_000 }).request(server.url));
    expect(error.code).toBe('rate_limited');
    expect(error.hint).toBe(`Try again after ${new Date(started + 120_000).toISOString()} (in 120 s), or use a different source.`);
    expect(server.requests).toHaveLength(1);
  });

  it('retries GET on 502 and returns the last response when retries run out', async () => {
    const server = await serve((_req, res) => res.writeHead(502).end('bad gateway'));
    const response = await loopbackClient({ retries: 2 }).request(server.url);
    expect(response.status).toBe(502);
    expect(response.text()).toBe('bad gateway');
    expect(server.requests).toHaveLength(3);
  });

  it('does not retry POST on 502', async () => {
    const server = await serve((_req, res) => res.writeHead(502).end());
    const response = await loopbackClient({ retries: 2 }).request(server.url, { method: 'POST', body: '{}' });
    expect(response.status).toBe(502);
    expect(server.requests).toHaveLength(1);
  });

  it('retries POST on 429 when the server says when', async () => {
    const server = await serve((_req, res, index) => {
      if (index === 0) res.writeHead(429, { 'retry-after': '0' }).end();
      else res.end('done');
    });
    const response = await loopbackClient().request(server.url, { method: 'POST', body: 'x' });
    expect(response.status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  it('retries a GET after the connection drops', async () => {
    const server = await serve((req, res, index) => {
      if (index === 0) req.socket.destroy();
      else res.end('second time');
    });
    const response = await loopbackClient().request(server.url);
    expect(response.text()).toBe('second time');
    expect(server.requests).toHaveLength(2);
  });

  it('reports a refused connection as a network error with its code', async () => {
    const server = await serve(ok);
    const port = server.port;
    await new Promise<void>((resolve) => servers.pop()?.close(() => resolve()));
    const error = await failure(loopbackClient({ retries: 0 }).request(`http://127.0.0.1:${port}/`));
    expect(error.code).toBe('network');
    expect(error.details).toMatchObject({ code: 'ECONNREFUSED' });
    expect(error.message).toContain('refused');
  });
});

describe('per-host limits', () => {
  it('queues requests beyond the concurrency limit instead of failing', async () => {
    let maxInFlight = 0;
    const held: ServerResponse[] = [];
    const server = await serve((_req, res) => {
      held.push(res);
      maxInFlight = Math.max(maxInFlight, held.length);
    });
    const http = loopbackClient({ perHostConcurrency: 2 });
    const all = Promise.all(Array.from({ length: 10 }, () => http.request(server.url)));
    for (let answered = 0; answered < 10; ) {
      await until(() => held.length === Math.min(2, 10 - answered), 'two requests in flight');
      for (const res of held.splice(0)) {
        res.end('ok');
        answered++;
      }
    }
    const responses = await all;
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
    expect(maxInFlight).toBe(2);
    expect(server.requests).toHaveLength(10);
  });

  it('handles 50 parallel requests to one host with the defaults', async () => {
    const server = await serve((_req, res) => setImmediate(() => res.end('ok')));
    const http = loopbackClient();
    const responses = await Promise.all(Array.from({ length: 50 }, () => http.request(server.url)));
    expect(responses.every((response) => response.status === 200)).toBe(true);
  });

  it('lets a queued request be cancelled without losing the slot', async () => {
    const held: ServerResponse[] = [];
    const server = await serve((_req, res, index) => (index === 0 ? held.push(res) : res.end('ok')));
    const http = loopbackClient({ perHostConcurrency: 1 });
    const controller = new AbortController();
    const first = http.request(server.url);
    const queued = failure(http.request(server.url, { signal: controller.signal }));
    const third = http.request(server.url);
    await until(() => held.length === 1, 'the first request');
    controller.abort();
    expect((await queued).code).toBe('cancelled');
    held[0]!.end('ok');
    expect((await first).status).toBe(200);
    expect((await third).status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  it('spaces request starts by perHostMinIntervalMs', async () => {
    const starts: number[] = [];
    const server = await serve((_req, res) => {
      starts.push(Date.now());
      res.end();
    });
    useFakeClock();
    const http = loopbackClient({ perHostMinIntervalMs: 100 });
    const all = Promise.all(Array.from({ length: 4 }, () => http.request(server.url)));
    await advanceUntil(() => starts.length === 4, 10, 'four requests');
    await all;
    const gaps = starts.slice(1).map((start, index) => start - starts[index]!);
    expect(gaps).toHaveLength(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(90);
  });
});

describe('responses', () => {
  it('returns headers, content type, text and json', async () => {
    const server = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-ua': req.headers['user-agent'] ?? '' });
      res.end(JSON.stringify({ answer: 42 }));
    });
    const response = await loopbackClient().request(server.url);
    expect(response.contentType).toBe('application/json');
    expect(response.json<{ answer: number }>()).toEqual({ answer: 42 });
    expect(response.headers['x-ua']).toMatch(/Chrome\/\d+/);
  });

  it('lets the caller override headers', async () => {
    const server = await serve((req, res) => res.end(req.headers['user-agent']));
    const response = await loopbackClient().request(server.url, { headers: { 'User-Agent': 'fathom-test' } });
    expect(response.text()).toBe('fathom-test');
  });
});
