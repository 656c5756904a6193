import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureSite } from '../../../../tests/fixtures/site.js';
import type { FixtureSite } from '../../../../tests/fixtures/site.js';
import { sharedCache } from './helpers.js';

let site: FixtureSite;
const { shared, client, closeAll } = sharedCache('fathom-search-robots-reach-', { robots: 'true' });

beforeAll(async () => {
  site = await startFixtureSite();
});

afterAll(async () => {
  await closeAll();
  await site.close();
});

describe('robots.txt rules in a cache shared by two search servers', () => {
  it('a strict server does not read the rules of a loopback robots.txt a permissive one cached', async () => {
    const permissive = await client({ ...shared, 'egress-allow': '127.0.0.1' });
    const strict = await client(shared);
    const uncached = await client({ robots: 'true' });
    const disallowed = `${site.url}/private/secret.html`;
    const robotsFetches = () => site.requests.filter((request) => request.path === '/robots.txt').length;

    const page = await permissive.fetch(`${site.url}${site.articles[0]!.path}`);
    expect(page.isError, page.text).toBe(false);
    expect(robotsFetches()).toBe(1);

    // Without the shared entry, a strict server only learns that the address is refused.
    const expected = await uncached.fetch(disallowed);
    expect(expected.text).toMatch(/^Refused to fetch http:\/\/127\.0\.0\.1:\d+\/private\/secret\.html: 127\.0\.0\.1 is a loopback address/);
    const refused = await strict.fetch(disallowed);
    expect(refused.isError).toBe(true);
    expect(refused.text).toBe(expected.text);
    expect(refused.text).not.toMatch(/robots/);
    expect(robotsFetches()).toBe(1);

    // The witness: the permissive servers still read the stored rules, which the strict one left in place.
    const byRobots = `${disallowed} is disallowed by robots.txt\n`;
    expect((await permissive.fetch(disallowed)).text).toContain(byRobots);
    const another = await client({ ...shared, 'egress-allow': '127.0.0.1' });
    expect((await another.fetch(disallowed)).text).toContain(byRobots);
    expect(robotsFetches()).toBe(1);
  });
});
