import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockedAddressError, loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBrowserSite } from '../../../tests/fixtures/browser-site.js';
import type { BrowserSite } from '../../../tests/fixtures/browser-site.js';
import { SELF_SIGNED } from '../../../tests/fixtures/self-signed.js';
import { freePort } from '../../../tests/helpers.js';
import { configSchema } from '../src/config.js';
import { describeChromium } from './chromium.js';
import type { Config } from '../src/config.js';
import { netError } from '../src/net-errors.js';
import { createServer as createBrowserServer, definition } from '../src/server.js';


describe('netError', () => {
  const url = new URL('https://example.org/page');

  it('says what a Chromium code means for the address, with what to do', () => {
    const timedOut = netError('ERR_TIMED_OUT', url);
    expect(timedOut.code).toBe('timeout');
    expect(timedOut.message).toBe('Timed out: https://example.org:443 did not answer.');
    expect(timedOut.hint).toContain('try again later');
    expect(netError('ERR_CERT_DATE_INVALID', url).message).toBe(
      'Certificate error: https://example.org:443 is not trusted, its certificate has expired or is not valid yet (ERR_CERT_DATE_INVALID).',
    );
    expect(netError('ERR_CERT_SYMANTEC_LEGACY', url).message).toContain('its certificate is not valid (ERR_CERT_SYMANTEC_LEGACY)');
    expect(netError('ERR_NAME_NOT_RESOLVED', url).message).toBe('Name not resolved: example.org has no address (DNS does not know it).');
    expect(netError('ERR_SOMETHING_NEW', url).message).toBe('Could not load https://example.org/page: Chromium says ERR_SOMETHING_NEW.');
  });

  it("prefers what the guard proxy met, since Chromium only learns that the proxy failed", () => {
    const proxied = Object.assign(new Error('connect ETIMEDOUT 203.0.113.9:443'), { code: 'ETIMEDOUT' });
    expect(netError('ERR_TUNNEL_CONNECTION_FAILED', url, proxied).message).toBe('Timed out: https://example.org:443 did not answer.');
    const refused = Object.assign(new Error('connect ECONNREFUSED 203.0.113.9:80'), { code: 'ECONNREFUSED' });
    expect(netError('ERR_HTTP_RESPONSE_CODE_FAILURE', new URL('http://example.org/'), refused).message).toBe(
      'Connection refused: nothing is listening at http://example.org:80.',
    );
    const blocked = netError('ERR_TUNNEL_CONNECTION_FAILED', url, blockedAddressError('example.org', { host: 'example.org', address: '10.0.0.7', viaDns: true }));
    expect(blocked.code).toBe('blocked_address');
    expect(blocked.message).toBe('Blocked by the egress policy: the browser may not connect to https://example.org:443 (it resolves to 10.0.0.7, a private address).');
    expect(blocked.hint).toContain('FATHOM_EGRESS_ALLOW=example.org');
  });
});

describeChromium('a page that does not load says why in words (Chromium)', () => {
  let site: BrowserSite;
  let untrusted: Server;
  let untrustedUrl: string;
  let output: string;
  let config: Config;
  let connection: InMemoryConnection;

  const navigate = async (url: string) => {
    const result = await connection.client.callTool({ name: 'browser_navigate', arguments: { url } }, undefined, { timeout: 120_000 });
    return { text: textOf(result), isError: result.isError === true };
  };

  beforeAll(async () => {
    site = await startBrowserSite();
    untrusted = createServer(SELF_SIGNED, (_request, response) => void response.end('<title>Untrusted</title>'));
    await new Promise<void>((resolve) => untrusted.listen(0, '127.0.0.1', resolve));
    untrustedUrl = `https://127.0.0.1:${(untrusted.address() as AddressInfo).port}`;
    output = mkdtempSync(join(tmpdir(), 'fathom-browser-net-'));
    config = loadConfig(configSchema, { server: 'browser', flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'cache-mode': 'off' }, env: {}, cwd: output });
  });

  beforeEach(async () => {
    connection = await connectInMemory(await createBrowserServer(config));
  });

  afterEach(async () => {
    await connection?.close();
  });

  afterAll(async () => {
    await definition.shutdown();
    await site?.close();
    untrusted?.closeAllConnections();
    await new Promise<void>((resolve) => (untrusted ? untrusted.close(() => resolve()) : resolve()));
    if (output) rmSync(output, { recursive: true, force: true });
  });

  it('a server that is down: connection refused, nothing listening at the address, over http, https and after a redirect', async () => {
    const port = await freePort();
    for (const [url, at] of [
      [`http://127.0.0.1:${port}/`, `http://127.0.0.1:${port}`],
      [`https://127.0.0.1:${port}/`, `https://127.0.0.1:${port}`],
      [`${site.url}/redirect-to?url=${encodeURIComponent(`http://127.0.0.1:${port}/next`)}`, `http://127.0.0.1:${port}`],
    ]) {
      const answer = await navigate(url!);
      expect(answer.isError, url).toBe(true);
      expect(answer.text, url).toBe(
        `Connection refused: nothing is listening at ${at}.\nThe server is down or on another port: check the address, start the server, or try again later.`,
      );
    }
  });

  it('a host that does not exist: name not resolved, also after a redirect', async () => {
    for (const url of ['http://no-such-host.invalid/', `${site.url}/redirect-to?url=${encodeURIComponent('https://no-such-host.invalid/x')}`]) {
      const answer = await navigate(url);
      expect(answer.isError, url).toBe(true);
      expect(answer.text, url).toMatch(/^Name not resolved: no-such-host\.invalid has no address \(DNS does not know it\)\.\nCheck the spelling/);
    }
  });

  it('a certificate no authority signed, and https to a plain http server', async () => {
    // Chromium answers a repeated certificate error only after a delay of its own (about 3 s), and
    // shows its error page after that: the next navigation must still not be cut short.
    for (let round = 0; round < 3; round++) {
      const certificate = await navigate(`${untrustedUrl}/`);
      expect(certificate.isError).toBe(true);
      expect(certificate.text).toMatch(new RegExp(`^Certificate error: ${untrustedUrl.replace(/[.]/g, '\\.')} is not trusted, .+ \\(ERR_CERT_[A-Z_]+\\)\\.\\n`));
    }
    const between = await navigate(`${site.url}/second.html`);
    expect(between.isError, between.text).toBe(false);
    const plain = await navigate(site.url.replace('http:', 'https:'));
    expect(plain.isError).toBe(true);
    // Chromium calls it a TLS failure or a closed connection, depending on how the server hangs up.
    expect(plain.text).toMatch(/^(Secure connection failed|Connection lost): https:\/\/127\.0\.0\.1:\d+ .*\.\nThe server may not speak https on this port/);
    const after = await navigate(`${site.url}/static.html`);
    expect(after.isError, after.text).toBe(false);
  });
});
