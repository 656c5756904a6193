import { FathomError } from '@fathom/core';
import { z } from 'zod';
import type { SearchRequest, TimeRange } from '../types.js';
import { call, DAY_OR_LONGER, parseJson, refused, toResults, trimSlash, withSiteFilters } from './common.js';
import type { Classify, ProviderInfo } from './common.js';
import { defineProvider } from './define.js';

const info: ProviderInfo = { name: 'searxng', label: 'SearXNG' };

/** SearXNG has no past-hour range; `week` is accepted by its web adapter though the docs list only day/month/year. */
const TIME_RANGE: Record<TimeRange, string> = { hour: 'day', day: 'day', week: 'week', month: 'month', year: 'year' };

const item = z.object({
  url: z.string(),
  title: z.string().nullish(),
  content: z.string().nullish(),
  engine: z.string().nullish(),
  engines: z.array(z.string()).nullish(),
  score: z.number().nullish(),
  category: z.string().nullish(),
  publishedDate: z.string().nullish(),
});

const answer = z.object({ query: z.string().optional(), results: z.array(item) });

function language(request: SearchRequest): string | undefined {
  if (!request.language) return undefined;
  const lang = request.language.toLowerCase();
  return request.region ? `${lang}-${request.region.toUpperCase()}` : lang;
}

function searxngUrl(base: string, request: SearchRequest): string {
  const params = new URLSearchParams({
    q: withSiteFilters(request.query, request.includeDomains, request.excludeDomains),
    format: 'json',
    pageno: String(request.page),
  });
  const lang = language(request);
  if (lang) params.set('language', lang);
  if (request.timeRange) params.set('time_range', TIME_RANGE[request.timeRange]);
  return `${trimSlash(base)}/search?${params}`;
}

/** An instance answers 403 when the JSON format is not enabled in its settings. */
const classify: Classify = (response) =>
  response.status === 403
    ? refused(info, 403, {
        hint: 'The instance may not allow the JSON format: add "json" to search.formats in its settings.yml, or use another provider.',
      })
    : undefined;

export const searxngProvider = defineProvider({
  name: 'searxng',
  title: 'SearXNG',
  description: 'SearXNG: a metasearch instance of your own, with its JSON format enabled (needs SEARXNG_URL)',
  config: {
    searxngUrl: z.string().url().optional().describe('Base URL of a SearXNG instance with the JSON format enabled'),
  },
  env: { searxngUrl: ['SEARXNG_URL'] },
  requires: { key: 'searxngUrl', env: 'SEARXNG_URL' },
  byDefault: 'when-configured',
  timeRanges: DAY_OR_LONGER,
  endpoint: (config) => config.searxngUrl ?? '',
  async search(request, context) {
    const base = context.config.searxngUrl;
    if (!base) throw new FathomError('invalid_config', 'SearXNG is not configured: SEARXNG_URL is not set', { hint: 'Set SEARXNG_URL to the base URL of an instance.' });
    const response = await call(info, context, searxngUrl(base, request), { headers: { accept: 'application/json' } }, classify);
    const { results } = parseJson(info, response, answer);
    return toResults(
      'searxng',
      results.slice(0, request.num).map((result) => ({
        title: result.title,
        url: result.url,
        snippet: result.content,
        published: result.publishedDate,
        extra: {
          ...(result.engines?.length ? { engines: result.engines } : result.engine ? { engines: [result.engine] } : {}),
          ...(typeof result.score === 'number' ? { score: result.score } : {}),
          ...(result.category ? { category: result.category } : {}),
        },
      })),
      request,
    );
  },
});
