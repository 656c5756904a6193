import { z } from 'zod';
import type { SearchRequest, TimeRange } from '../types.js';
import { call, errorDetail, EXACT_RANGES, parseJson, quotaExceeded, toResults, trimSlash, withSiteFilters } from './common.js';
import type { Classify, ProviderInfo } from './common.js';
import { defineProvider } from './define.js';

const info: ProviderInfo = { name: 'serper', label: 'Serper', keyEnv: 'SERPER_API_KEY' };

/** Google's `tbs` recency filter. */
const TBS: Record<TimeRange, string> = { hour: 'qdr:h', day: 'qdr:d', week: 'qdr:w', month: 'qdr:m', year: 'qdr:y' };

const sitelink = z.object({ title: z.string(), link: z.string() });

const organic = z.object({
  title: z.string().nullish(),
  link: z.string(),
  snippet: z.string().nullish(),
  position: z.number().optional(),
  date: z.string().optional(),
  sitelinks: z.array(sitelink).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
});

const answer = z.object({
  searchParameters: z.record(z.string(), z.unknown()).optional(),
  organic: z.array(organic).default([]),
});

/** The JSON body of POST /search, as Serper's playground and SDK examples send it. */
function serperBody(request: SearchRequest): Record<string, unknown> {
  return {
    q: withSiteFilters(request.query, request.includeDomains, request.excludeDomains),
    num: request.num,
    page: request.page,
    ...(request.region ? { gl: request.region.toLowerCase() } : {}),
    ...(request.language ? { hl: request.language.toLowerCase() } : {}),
    ...(request.serperTbs ? { tbs: request.serperTbs } : request.timeRange ? { tbs: TBS[request.timeRange] } : {}),
    ...(request.location ? { location: request.location } : {}),
    ...(request.autocorrect === undefined ? {} : { autocorrect: request.autocorrect }),
  };
}

/** Serper answers 400 "Not enough credits" when the account is empty. */
const classify: Classify = (response) => {
  if (response.status !== 400) return undefined;
  const detail = errorDetail(response);
  return detail && /credit/i.test(detail) ? quotaExceeded(info, 400, detail) : undefined;
};

export const serperProvider = defineProvider({
  name: 'serper',
  title: 'Serper/Google',
  description: 'Serper: Google results through google.serper.dev (needs SERPER_API_KEY)',
  config: {
    serperApiKey: z.string().optional().describe('Serper (Google) API key'),
    serperBaseUrl: z.string().url().default('https://google.serper.dev').describe('Serper endpoint'),
  },
  env: { serperApiKey: ['SERPER_API_KEY'], serperBaseUrl: ['SERPER_BASE_URL'] },
  requires: { key: 'serperApiKey', env: 'SERPER_API_KEY' },
  byDefault: 'when-configured',
  customTbs: true,
  timeRanges: EXACT_RANGES,
  endpoint: (config) => config.serperBaseUrl,
  async search(request, context) {
    const response = await call(
      info,
      context,
      `${trimSlash(context.config.serperBaseUrl)}/search`,
      {
        method: 'POST',
        headers: { 'x-api-key': context.config.serperApiKey ?? '', 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(serperBody(request)),
      },
      classify,
    );
    const { organic: items } = parseJson(info, response, answer);
    return toResults(
      'serper',
      items.map((item) => ({
        title: item.title,
        url: item.link,
        snippet: item.snippet,
        published: item.date,
        extra: {
          ...(item.position === undefined ? {} : { position: item.position }),
          ...(item.date ? { date: item.date } : {}),
          ...(item.sitelinks ? { sitelinks: item.sitelinks } : {}),
          ...(item.attributes ? { attributes: item.attributes } : {}),
        },
      })),
      request,
    );
  },
});
