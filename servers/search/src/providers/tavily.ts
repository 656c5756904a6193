import { z } from 'zod';
import type { SearchRequest, TimeRange } from '../types.js';
import { call, DAY_OR_LONGER, errorDetail, pageWindow, parseJson, quotaExceeded, toResults, trimSlash } from './common.js';
import type { Classify, ProviderInfo } from './common.js';
import { defineProvider } from './define.js';

const info: ProviderInfo = { name: 'tavily', label: 'Tavily', keyEnv: 'TAVILY_API_KEY' };

/** Tavily's max_results ceiling; it has no offset, so later pages come from a longer first page. */
const MAX_RESULTS = 20;

const TIME_RANGE: Record<TimeRange, string> = { hour: 'day', day: 'day', week: 'week', month: 'month', year: 'year' };

const item = z.object({
  title: z.string().nullish(),
  url: z.string(),
  content: z.string().nullish(),
  score: z.number().nullish(),
  published_date: z.string().nullish(),
});

const answer = z.object({ results: z.array(item) });

function tavilyBody(request: SearchRequest, maxResults: number): Record<string, unknown> {
  return {
    query: request.query,
    topic: 'general',
    search_depth: 'basic',
    max_results: maxResults,
    include_answer: false,
    include_raw_content: false,
    include_images: false,
    ...(request.timeRange ? { time_range: TIME_RANGE[request.timeRange] } : {}),
    ...(request.includeDomains.length ? { include_domains: request.includeDomains } : {}),
    ...(request.excludeDomains.length ? { exclude_domains: request.excludeDomains } : {}),
  };
}

/** 432 is the plan's limit, 433 the pay-as-you-go limit. */
const classify: Classify = (response) =>
  response.status === 432 || response.status === 433 ? quotaExceeded(info, response.status, errorDetail(response)) : undefined;

export const tavilyProvider = defineProvider({
  name: 'tavily',
  title: 'Tavily',
  description: 'Tavily: search API made for agents (needs TAVILY_API_KEY)',
  config: {
    tavilyApiKey: z.string().optional().describe('Tavily API key'),
    tavilyBaseUrl: z.string().url().default('https://api.tavily.com').describe('Tavily endpoint'),
  },
  env: { tavilyApiKey: ['TAVILY_API_KEY'] },
  requires: { key: 'tavilyApiKey', env: 'TAVILY_API_KEY' },
  byDefault: 'when-configured',
  timeRanges: DAY_OR_LONGER,
  endpoint: (config) => config.tavilyBaseUrl,
  async search(request, context) {
    const { ask, skip } = pageWindow(request, MAX_RESULTS);
    if (skip >= ask) return [];
    const response = await call(
      info,
      context,
      `${trimSlash(context.config.tavilyBaseUrl)}/search`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${context.config.tavilyApiKey ?? ''}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(tavilyBody(request, ask)),
      },
      classify,
    );
    const { results } = parseJson(info, response, answer);
    return toResults(
      'tavily',
      results.slice(skip, skip + request.num).map((result) => ({
        title: result.title,
        url: result.url,
        snippet: result.content,
        published: result.published_date,
        extra: typeof result.score === 'number' ? { score: result.score } : {},
      })),
      request,
    );
  },
});
