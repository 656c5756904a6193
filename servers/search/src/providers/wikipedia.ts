import { FathomError } from '@fathom/core';
import { z } from 'zod';
import type { SearchRequest } from '../types.js';
import { call, parseJson, parseRetryAfter, passesDomains, plainText, rateLimited, toResults, trimSlash } from './common.js';
import type { ProviderInfo } from './common.js';
import { defineProvider } from './define.js';

const info: ProviderInfo = { name: 'wikipedia', label: 'Wikipedia' };

/** Wikimedia asks API clients to identify themselves rather than pose as a browser. */
const USER_AGENT = 'Fathom/0.1 (MCP search server for research agents)';

/** Language codes whose wiki has another subdomain. */
const WIKI: Record<string, string> = { nb: 'no' };

const hit = z.object({
  title: z.string(),
  pageid: z.number().optional(),
  snippet: z.string().nullish(),
  timestamp: z.string().nullish(),
  wordcount: z.number().optional(),
});

const answer = z.union([
  z.object({ error: z.object({ code: z.string(), info: z.string().optional() }) }),
  z.object({ query: z.object({ search: z.array(hit) }) }),
]);

function wikiLanguage(language: string | undefined): string {
  const lang = (language ?? 'en').toLowerCase();
  const wiki = WIKI[lang] ?? lang;
  return /^[a-z]{2,3}(-[a-z]+)*$/.test(wiki) ? wiki : 'en';
}

/** A page's address the way MediaWiki writes it: spaces as underscores, `/` `:` and `,` left alone. */
function pageUrl(site: string, title: string): string {
  const path = encodeURIComponent(title.replace(/ /g, '_')).replace(/%2F/g, '/').replace(/%3A/g, ':').replace(/%2C/g, ',');
  return `${site}/wiki/${path}`;
}

function apiUrl(site: string, request: SearchRequest): string {
  const params = new URLSearchParams({
    action: 'query',
    list: 'search',
    srsearch: request.query,
    srlimit: String(request.num),
    sroffset: String((request.page - 1) * request.num),
    srprop: 'snippet|timestamp|wordcount',
    format: 'json',
    formatversion: '2',
  });
  return `${site}/w/api.php?${params}`;
}

export const wikipediaProvider = defineProvider({
  name: 'wikipedia',
  title: 'Wikipedia',
  description: "Wikipedia: the MediaWiki search API of the query's language, no key needed (used when named)",
  config: {
    wikipediaUrl: z.string().default('https://{language}.wikipedia.org').describe('MediaWiki site; {language} is replaced'),
  },
  byDefault: 'when-named',
  endpoint: (config) => config.wikipediaUrl,
  async search(request, context) {
    const site = trimSlash(context.config.wikipediaUrl.replace('{language}', wikiLanguage(request.language)));
    // Only the wiki's own pages can match: a domain filter that excludes it leaves nothing to ask for.
    if (!passesDomains(`${site}/wiki/`, request)) return [];
    const response = await call(info, context, apiUrl(site, request), {
      headers: { accept: 'application/json', 'user-agent': USER_AGENT },
    });
    const body = parseJson(info, response, answer);
    if ('error' in body) {
      const { code, info: detail } = body.error;
      if (code === 'maxlag' || code === 'ratelimited') throw rateLimited(info, response.status, parseRetryAfter(response.headers['retry-after']));
      throw new FathomError('upstream', `Wikipedia refused the search: ${detail ?? code}`, {
        hint: 'Simplify the query, or use another provider.',
        details: { provider: 'wikipedia', code },
      });
    }
    return toResults(
      'wikipedia',
      body.query.search.map((page) => ({
        title: page.title,
        url: pageUrl(site, page.title),
        snippet: plainText(page.snippet ?? ''),
        extra: {
          ...(page.pageid === undefined ? {} : { pageId: page.pageid }),
          ...(page.timestamp ? { lastEdited: page.timestamp } : {}),
          ...(page.wordcount === undefined ? {} : { wordCount: page.wordcount }),
        },
      })),
      request,
    );
  },
});
