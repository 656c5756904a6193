import { z } from 'zod';
import type { HttpResponse } from '@fathom/core';
import type { SearchRequest, TimeRange } from '../types.js';
import { call, DAY_OR_LONGER, errorDetail, parseJson, parseRetryAfter, plainText, rateLimited, refused, toResults, trimSlash, withSiteFilters } from './common.js';
import type { Classify, ProviderInfo } from './common.js';
import { defineProvider } from './define.js';

const info: ProviderInfo = { name: 'brave', label: 'Brave Search', keyEnv: 'BRAVE_API_KEY' };

const MAX_COUNT = 20;
const MAX_OFFSET = 9;

/** Brave has no past-hour filter: the past day is the closest. */
const FRESHNESS: Record<TimeRange, string> = { hour: 'pd', day: 'pd', week: 'pw', month: 'pm', year: 'py' };

/** The `country` values Brave accepts; any other is refused with 422. */
const COUNTRIES = new Set(
  'AR AU AT BE BR CA CL DK FI FR DE HK IN ID IT JP KR MY MX NL NZ NO CN PL PT PH RU SA ZA ES SE CH TW TR GB US'.split(' '),
);

/** The `search_lang` values Brave accepts; note jp, zh-hans/zh-hant, pt-br/pt-pt and nb. */
const LANGUAGES = new Set(
  ('ar eu bn bg ca zh-hans zh-hant hr cs da nl en en-gb et fi fr gl de el gu he hi hu is it jp kn ko lv lt ms ml mr nb pl ' +
    'pt-br pt-pt pa ro ru sr sk sl es sv ta te th tr uk ur vi').split(' '),
);

function country(region: string | undefined): string | undefined {
  const code = region?.toUpperCase() === 'UK' ? 'GB' : region?.toUpperCase();
  return code && COUNTRIES.has(code) ? code : undefined;
}

function searchLang(language: string | undefined, region: string | undefined): string | undefined {
  if (!language) return undefined;
  const lang = language.toLowerCase();
  const place = region?.toLowerCase() ?? '';
  const special: Record<string, string> = {
    ja: 'jp',
    no: 'nb',
    zh: place === 'tw' || place === 'hk' ? 'zh-hant' : 'zh-hans',
    pt: place === 'pt' ? 'pt-pt' : 'pt-br',
    en: place === 'gb' || place === 'uk' ? 'en-gb' : 'en',
  };
  const mapped = special[lang] ?? lang;
  return LANGUAGES.has(mapped) ? mapped : undefined;
}

/** `offset` counts pages of `count` results; the requested page starts `skip` results into that page. */
function paging(request: SearchRequest): { count: number; offset: number; skip: number } {
  const count = Math.min(request.num, MAX_COUNT);
  const start = (request.page - 1) * request.num;
  const offset = Math.floor(start / count);
  return { count, offset, skip: start - offset * count };
}

function braveUrl(base: string, request: SearchRequest, count: number, offset: number): string {
  const params = new URLSearchParams({
    q: withSiteFilters(request.query, request.includeDomains, request.excludeDomains),
    count: String(count),
    offset: String(offset),
  });
  const place = country(request.region);
  const lang = searchLang(request.language, request.region);
  if (place) params.set('country', place);
  if (lang) params.set('search_lang', lang);
  if (request.timeRange) params.set('freshness', FRESHNESS[request.timeRange]);
  return `${trimSlash(base)}/res/v1/web/search?${params}`;
}

/**
 * Brave sends no Retry-After: its X-RateLimit-Reset lists seconds until each window resets,
 * matching X-RateLimit-Remaining; the exhausted window is the one to wait for.
 */
function retryAfterMs(response: HttpResponse): number | undefined {
  const given = parseRetryAfter(response.headers['retry-after']);
  if (given !== undefined) return given;
  const resets = (response.headers['x-ratelimit-reset'] ?? '').split(',').map((part) => Number(part.trim()));
  const remaining = (response.headers['x-ratelimit-remaining'] ?? '').split(',').map((part) => Number(part.trim()));
  const exhausted = resets.filter((reset, index) => Number.isFinite(reset) && remaining[index] === 0);
  const seconds = exhausted.length ? Math.max(...exhausted) : resets.find((reset) => Number.isFinite(reset) && reset > 0);
  return seconds === undefined ? undefined : seconds * 1000;
}

/** Brave answers a wrong key with 422 SUBSCRIPTION_TOKEN_INVALID rather than 401. */
const classify: Classify = (response) => {
  if (response.status === 429) return rateLimited(info, 429, retryAfterMs(response));
  if (response.status !== 422) return undefined;
  const detail = errorDetail(response);
  return /SUBSCRIPTION_TOKEN/i.test(response.text()) ? refused(info, 422, { detail }) : undefined;
};

const webResult = z.object({
  title: z.string().nullish(),
  url: z.string(),
  description: z.string().nullish(),
  age: z.string().nullish(),
  page_age: z.string().nullish(),
  language: z.string().nullish(),
  extra_snippets: z.array(z.string()).optional(),
});

const answer = z.object({
  type: z.literal('search'),
  web: z.object({ results: z.array(webResult).default([]) }).optional(),
});

export const braveProvider = defineProvider({
  name: 'brave',
  title: 'Brave',
  description: "Brave Search: Brave's own web index (needs BRAVE_API_KEY)",
  config: {
    braveApiKey: z.string().optional().describe('Brave Search API key'),
    braveBaseUrl: z.string().url().default('https://api.search.brave.com').describe('Brave Search endpoint'),
  },
  env: { braveApiKey: ['BRAVE_API_KEY'] },
  requires: { key: 'braveApiKey', env: 'BRAVE_API_KEY' },
  byDefault: 'when-configured',
  timeRanges: DAY_OR_LONGER,
  endpoint: (config) => config.braveBaseUrl,
  async search(request, context) {
    const { count, offset, skip } = paging(request);
    if (offset > MAX_OFFSET) return [];
    const response = await call(
      info,
      context,
      braveUrl(context.config.braveBaseUrl, request, count, offset),
      { headers: { accept: 'application/json', 'x-subscription-token': context.config.braveApiKey ?? '' } },
      classify,
    );
    const items = parseJson(info, response, answer).web?.results ?? [];
    return toResults(
      'brave',
      items.slice(skip, skip + request.num).map((item) => ({
        title: item.title ? plainText(item.title) : item.title,
        url: item.url,
        snippet: item.description ? plainText(item.description) : '',
        published: item.page_age ?? item.age,
        extra: {
          ...(item.age ? { age: item.age } : {}),
          ...(item.language ? { language: item.language } : {}),
          ...(item.extra_snippets?.length ? { extraSnippets: item.extra_snippets.map(plainText) } : {}),
        },
      })),
      request,
    );
  },
});
