import { z } from 'zod';
import type { SearchRequest } from '../types.js';
import { call, errorDetail, EXACT_RANGES, pageWindow, parseJson, quotaExceeded, sinceDate, toResults, trimSlash } from './common.js';
import type { Classify, ProviderInfo } from './common.js';
import { defineProvider } from './define.js';

const info: ProviderInfo = { name: 'exa', label: 'Exa', keyEnv: 'EXA_API_KEY' };

/** Exa's numResults ceiling; it has no offset, so later pages come from a longer first page. */
const MAX_RESULTS = 100;
const SNIPPET_CHARS = 400;

const item = z.object({
  id: z.string().nullish(),
  url: z.string(),
  title: z.string().nullish(),
  publishedDate: z.string().nullish(),
  author: z.string().nullish(),
  score: z.number().nullish(),
  highlights: z.array(z.string()).nullish(),
  summary: z.string().nullish(),
  text: z.string().nullish(),
});

const answer = z.object({ results: z.array(item) });

function exaBody(request: SearchRequest, numResults: number): Record<string, unknown> {
  return {
    query: request.query,
    type: 'auto',
    numResults,
    contents: { highlights: true },
    ...(request.includeDomains.length ? { includeDomains: request.includeDomains } : {}),
    ...(request.excludeDomains.length ? { excludeDomains: request.excludeDomains } : {}),
    ...(request.timeRange ? { startPublishedDate: sinceDate(request.timeRange).toISOString() } : {}),
    ...(request.region ? { userLocation: request.region.toUpperCase() } : {}),
  };
}

function snippetOf(result: z.infer<typeof item>): string {
  if (result.highlights?.length) return result.highlights.join(' … ');
  if (result.summary) return result.summary;
  const text = result.text?.trim() ?? '';
  return text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS)}…` : text;
}

/** 402: no credits left, or the key's budget is spent. */
const classify: Classify = (response) => (response.status === 402 ? quotaExceeded(info, 402, errorDetail(response)) : undefined);

export const exaProvider = defineProvider({
  name: 'exa',
  title: 'Exa',
  description: 'Exa: neural web search with highlights (needs EXA_API_KEY)',
  config: {
    exaApiKey: z.string().optional().describe('Exa API key'),
    exaBaseUrl: z.string().url().default('https://api.exa.ai').describe('Exa endpoint'),
  },
  env: { exaApiKey: ['EXA_API_KEY'] },
  requires: { key: 'exaApiKey', env: 'EXA_API_KEY' },
  byDefault: 'when-configured',
  timeRanges: EXACT_RANGES,
  endpoint: (config) => config.exaBaseUrl,
  async search(request, context) {
    const { ask, skip } = pageWindow(request, MAX_RESULTS);
    if (skip >= ask) return [];
    const response = await call(
      info,
      context,
      `${trimSlash(context.config.exaBaseUrl)}/search`,
      {
        method: 'POST',
        headers: { 'x-api-key': context.config.exaApiKey ?? '', 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(exaBody(request, ask)),
      },
      classify,
    );
    const { results } = parseJson(info, response, answer);
    return toResults(
      'exa',
      results.slice(skip, skip + request.num).map((result) => ({
        title: result.title,
        url: result.url,
        snippet: snippetOf(result),
        published: result.publishedDate,
        extra: {
          ...(result.author ? { author: result.author } : {}),
          ...(typeof result.score === 'number' ? { score: result.score } : {}),
        },
      })),
      request,
    );
  },
});
