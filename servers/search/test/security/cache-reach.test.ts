import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureSite } from '../../../../tests/fixtures/site.js';
import type { FixtureSite } from '../../../../tests/fixtures/site.js';
import { sharedCache } from './helpers.js';

let site: FixtureSite;
const { shared, client, closeAll } = sharedCache('fathom-search-cache-reach-');

beforeAll(async () => {
  site = await startFixtureSite();
});

afterAll(async () => {
  await closeAll();
  await site.close();
});

describe('two search servers sharing one cache file', () => {
  it('a strict server refuses a loopback page a permissive one cached, as if it were not cached', async () => {
    const permissive = await client({ ...shared, 'egress-allow': '127.0.0.1' });
    const strict = await client(shared);
    const uncached = await client({});
    const article = site.articles[2]!;
    const url = `${site.url}${article.path}`;
    const fetches = () => site.requests.filter((request) => request.path === article.path).length;

    const page = await permissive.fetch(url);
    expect(page.isError).toBe(false);
    expect(page.text).toContain(article.code);
    expect(fetches()).toBe(1);

    const refused = await strict.fetch(url);
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/^Refused to fetch http:\/\/127\.0\.0\.1:\d+\/articles\/3\.html: 127\.0\.0\.1 is a loopback address/);
    expect(refused.text).toBe((await uncached.fetch(url)).text);
    expect(refused.text).not.toContain(article.code);
    expect(fetches()).toBe(1);

    // The witness: the permissive server still serves it from the cache.
    const again = await permissive.fetch(url);
    expect(again.text).toContain(article.code);
    expect(fetches()).toBe(1);
  });
});
