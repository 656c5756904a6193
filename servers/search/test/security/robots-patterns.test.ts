import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { textOf } from '@fathom/core/testing';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../../../tests/helpers.js';
import { isAllowed, matches, parseRobots } from '../../src/robots.js';

/** Long enough for any answer on a loaded machine; a call still open then is hung. */
const HANG_MS = 10_000;

/** A site that serves `robots` and, at any other path, a page naming that path. */
async function site(robots: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    if (request.url === '/robots.txt') return void response.writeHead(200, { 'content-type': 'text/plain' }).end(robots);
    response.writeHead(200, { 'content-type': 'text/html' }).end(`<html><body><h1>A page</h1><p>Served at ${request.url?.length} characters of path.</p></body></html>`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function fetchPage(client: Client, url: string) {
  const result = await client.callTool({ name: 'web_fetch', arguments: { url } }, undefined, { timeout: HANG_MS });
  return { text: textOf(result), isError: result.isError === true };
}

describe('robots.txt patterns that used to block the search server', () => {
  let hostile: Awaited<ReturnType<typeof site>>;
  let plain: Awaited<ReturnType<typeof site>>;
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  const clients: Client[] = [];

  async function session(): Promise<Client> {
    const client = new Client({ name: 'security-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    hostile = await site('User-agent: *\nDisallow: /*a*a*a*a*a*a*a*a*a*ab\n');
    plain = await site('User-agent: *\nDisallow: /private/\n');
    server = await startHttpServer('search', ['--egress-allow', '127.0.0.1', '--cache-mode', 'off']);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((client) => client.close()));
    server.child.kill('SIGTERM');
    // A server whose main thread is stuck never runs its SIGTERM handler.
    const timer = setTimeout(() => server.child.kill('SIGKILL'), 3000);
    await server.exited;
    clearTimeout(timer);
    hostile.server.close();
    plain.server.close();
  });

  it('checks a long path against a pattern of many stars at once, and correctly, while another session is served', async () => {
    const attacker = await session();
    const witness = await session();
    const long = `/${'a'.repeat(100)}`;
    const [allowed, witnessed] = await Promise.all([fetchPage(attacker, hostile.url + long), fetchPage(witness, `${plain.url}/public.html`)]);
    expect(allowed.isError).toBe(false);
    expect(allowed.text).toContain('Served at 101 characters of path.');
    expect(witnessed.isError).toBe(false);
    expect(witnessed.text).toContain('A page');

    const refused = await fetchPage(attacker, `${hostile.url}${long}b`);
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain('is disallowed by robots.txt');
  });
});

/** The matcher robots.txt rules had before: the reference for what patterns mean. */
function regexMatches(pattern: string, path: string): boolean {
  const anchored = pattern.endsWith('$');
  const body = anchored ? pattern.slice(0, -1) : pattern;
  const source = body
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}${anchored ? '$' : ''}`, 's').test(path);
}

describe('robots.txt pattern matching', () => {
  const patterns = [
    '/', '/private/', '/*.pdf$', '/*?sessionid=', '/exact$', '/$', '*', '*$', '/*', '/a*b*c', '/a*b*c$', '/**x', '/x**',
    '/a.b*', '/(x)+*', '/*/*/', '/shop*?*page=', '/$/x', '/a$b', '/*a*a*ab', '/%7E*', '/caf%C3%A9*menu',
  ];
  const paths = [
    '/', '/private', '/private/', '/private/x.html', '/docs/report.pdf', '/docs/report.pdf?download=1', '/report.pdf.html',
    '/shop?sessionid=42', '/shop?page=2', '/shop?x=1&page=3', '/exact', '/exactly', '/abc', '/aXbYc', '/acb', '/abcabc',
    '/xx', '/x', '/a.bc', '/axb', '/(x)+y', '/a/b/', '/a/b', '/$/x', '/a$b', '/aaab', '/aab', '/abab', '/%7Euser/',
    '/caf%C3%A9/menu', '/line\nbreak', '',
  ];

  it('agrees with the regular-expression matcher on ordinary patterns and paths', () => {
    for (const pattern of patterns) {
      for (const path of paths) expect(matches(pattern, path), `${pattern} on ${JSON.stringify(path)}`).toBe(regexMatches(pattern, path));
    }
  });

  it('weighs rules of many stars by length as before', () => {
    const robots = parseRobots('User-agent: *\nDisallow: /*a*a*a*a*a*a*ab$\nAllow: /*b*b*b*bc\n');
    expect(isAllowed(robots, `/${'a'.repeat(20)}`)).toBe(true);
    expect(isAllowed(robots, `/${'a'.repeat(20)}b`)).toBe(false);
    expect(isAllowed(robots, `/${'a'.repeat(20)}b?q`)).toBe(true);
    expect(isAllowed(robots, `/${'a'.repeat(8)}bbbbc`)).toBe(true);
    expect(matches('/*b*b*b*bc', `/${'b'.repeat(20)}c`)).toBe(true);
  });
});
