import { request } from 'node:http';
import { connect } from 'node:net';
import { AddressGuard, createLogger } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardProxy } from '../../src/proxy.js';
import type { GuardProxy } from '../../src/proxy.js';
import { startRecordingServer } from './hostile-site.js';
import type { RecordingServer } from './hostile-site.js';

const credentials = { username: 'fathom', password: 'proxy-secret-1' };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A GET through the proxy the way a browser sends one: the absolute URL as the path. */
function viaProxy(proxy: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(proxy);
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: hostname, port, path: url, headers }, (answer) => {
      let body = '';
      answer.on('data', (chunk: Buffer) => (body += chunk.toString()));
      answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** The status line a CONNECT through the proxy gets. */
function tunnel(proxy: string, target: string, headers: Record<string, string> = {}): Promise<string> {
  const { hostname, port } = new URL(proxy);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.once('data', (chunk: Buffer) => {
      resolve(chunk.toString().split('\r\n')[0] ?? '');
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('the guard proxy a remote browser reaches over the network asks for its credentials', () => {
  let proxy: GuardProxy;
  let site: RecordingServer;
  let seenAuthorization: (string | undefined)[];

  beforeAll(async () => {
    seenAuthorization = [];
    site = await startRecordingServer('127.0.0.1', (incoming, response) => {
      seenAuthorization.push(incoming.headers['proxy-authorization']);
      response.end('public page');
    });
    proxy = await startGuardProxy(new AddressGuard(false, ['127.0.0.1']), createLogger('test', { level: 'silent' }), { credentials });
  });

  afterAll(async () => {
    await proxy?.close();
    await site?.close();
  });

  it('answers 407 and connects nothing without them, or with wrong ones', async () => {
    const none = await viaProxy(proxy.url, `${site.origin}/page`);
    expect(none.status).toBe(407);
    expect((await viaProxy(proxy.url, `${site.origin}/page`, { 'proxy-authorization': basic('fathom', 'guess') })).status).toBe(407);
    expect(await tunnel(proxy.url, new URL(site.origin).host)).toBe('HTTP/1.1 407 Proxy Authentication Required');
    expect(await tunnel(proxy.url, new URL(site.origin).host, { 'Proxy-Authorization': basic('other', 'proxy-secret-1') })).toMatch(/^HTTP\/1.1 407/);
    expect(site.requests).toEqual([]);
  });

  it('with them, goes through the guard as before, and keeps them to itself', async () => {
    const auth = { 'proxy-authorization': basic(credentials.username, credentials.password) };
    const allowed = await viaProxy(proxy.url, `${site.origin}/page`, auth);
    expect(allowed).toEqual({ status: 200, body: 'public page' });
    expect(seenAuthorization).toEqual([undefined]);
    expect(await tunnel(proxy.url, new URL(site.origin).host, { 'Proxy-Authorization': auth['proxy-authorization'] })).toBe('HTTP/1.1 200 Connection Established');
    expect((await viaProxy(proxy.url, 'http://127.0.0.2:9/', auth)).status).toBe(403);
    expect(await tunnel(proxy.url, '169.254.169.254:80', { 'Proxy-Authorization': auth['proxy-authorization'] })).toBe('HTTP/1.1 403 Forbidden');
  });
});
