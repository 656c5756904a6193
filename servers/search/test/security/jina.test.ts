import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { isPublicAddress } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJinaFake } from '../../../../tests/fixtures/providers.js';
import type { JinaFake } from '../../../../tests/fixtures/providers.js';
import { startFixtureSite } from '../../../../tests/fixtures/site.js';
import type { FixtureSite } from '../../../../tests/fixtures/site.js';
import { definition } from '../../src/server.js';
import { searchClient } from './helpers.js';

/** This machine's name, when it resolves to non-public addresses only: a host name (not an IP, not "localhost") the guard must resolve. */
async function privateName(): Promise<{ name?: string; reason?: string }> {
  const name = hostname().toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return { reason: `the host name ${name} is a localhost name` };
  const addresses = await lookup(name, { all: true }).catch(() => []);
  if (addresses.length > 0 && addresses.every((entry) => !isPublicAddress(entry.address))) return { name };
  return { reason: `the host name ${name} does not resolve to private addresses only (${addresses.map((entry) => entry.address).join(', ') || 'no address'})` };
}

const found = await privateName();
if (!found.name && !process.env.CI) console.log(`Skipping the Jina host-name test: ${found.reason}`);
const describeName = !found.name && !process.env.CI ? describe.skip : describe;

let site: FixtureSite;
let jina: JinaFake;

beforeAll(async () => {
  [site, jina] = await Promise.all([startFixtureSite(), startJinaFake()]);
});

afterAll(async () => {
  await definition.shutdown();
  await Promise.all([site?.close(), jina?.close()]);
});

describeName('Jina Reader and host names that resolve to private addresses', () => {
  it('resolves the name with the address guard and never hands it to Jina', async () => {
    expect(found.reason).toBeUndefined();
    const name = found.name!;
    const url = `http://${name}:${new URL(site.url).port}/articles/1.html`;
    const before = site.requests.length;

    const strict = await searchClient(jina.flags);
    const refused = await strict.fetch(url);
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(new RegExp(`^Refused to fetch ${url.replace(/[.]/g, '\\.')}: it resolves to \\S+, a (loopback|private|link-local|cloud metadata) address`));
    expect(jina.requests).toEqual([]);
    expect(site.requests.length).toBe(before);

    // The witness: a name the operator allows still goes through Jina.
    const allowing = await searchClient({ ...jina.flags, 'egress-allow': name });
    const page = await allowing.fetch(url);
    expect(page.isError).toBe(false);
    expect(page.text).toContain(`Jina read ${url}`);
    expect(jina.requests).toEqual([url]);
    await Promise.all([strict.close(), allowing.close()]);
  });
});
