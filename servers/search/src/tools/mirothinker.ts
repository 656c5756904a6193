import { defineTool, errorMessage, mirothinkerHarness, mirothinkerTool, pyJson, respond } from '@fathom/core';
import type { Tool, ToolContext } from '@fathom/core';
import { z } from 'zod';
import type { SearchRuntime } from '../runtime.js';
import type { SearchRequest, SearchResult, TimeRange } from '../types.js';

/** The server names MiroThinker knows these tools under. */
export const SEARCH_SERVER = 'search_and_scrape_webpage';
export const SCRAPE_SERVER = 'jina_scrape_llm_summary';

/** MiroThinker cuts the content it hands to the extraction model here. */
export const MAX_SCRAPE_CHARS = 409_600;

const TBS: Record<string, TimeRange> = { 'qdr:h': 'hour', 'qdr:d': 'day', 'qdr:w': 'week', 'qdr:m': 'month', 'qdr:y': 'year' };
const QDR: Record<TimeRange, string> = { hour: 'qdr:h', day: 'qdr:d', week: 'qdr:w', month: 'qdr:m', year: 'qdr:y' };

/** MiroThinker's scrape tool refuses these pages (benchmark-leak guard). */
export function isHuggingfaceLeak(url: string): boolean {
  return url.includes('huggingface.co/datasets') || url.includes('huggingface.co/spaces');
}

/** MiroThinker's google_search drops results whose link contains one of its banned substrings. */
export function isBannedResult(url: string): boolean {
  return mirothinkerHarness().bannedUrlSubstrings.some((banned) => url.includes(banned));
}

/** Percent-escapes of non-ASCII text made readable; reserved characters stay escaped. */
function readableUrl(url: string): string {
  try {
    return decodeURI(url);
  } catch {
    return url;
  }
}

/** A normalized result in the fields of a Serper organic item, whichever provider found it. */
function organicItem(result: SearchResult, position: number): Record<string, unknown> {
  const { sitelinks, attributes, date, position: _position, ...rest } = (result.extra ?? {}) as Record<string, unknown>;
  void _position;
  return {
    title: result.title,
    link: readableUrl(result.url),
    snippet: result.snippet,
    ...(sitelinks !== undefined ? { sitelinks } : {}),
    ...(attributes !== undefined ? { attributes } : {}),
    ...((date ?? result.published) !== undefined ? { date: date ?? result.published } : {}),
    position,
    ...(result.provider === 'serper' ? pick(rest, ['imageUrl', 'rating', 'ratingCount']) : {}),
  };
}

function pick(source: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => source[key] !== undefined).map((key) => [key, source[key]]));
}

export function mirothinkerTools(runtime: SearchRuntime): Tool[] {
  const { config } = runtime;
  // MiroThinker's servers returned dicts that the MCP SDK's FastMCP (mcp 1.10.1) wrote with
  // indent=2 at v1.0; json.dumps(..., ensure_ascii=False) since 99406c3 (2025-12-28), before v1.5.
  // The answer is that JSON alone: one text section, rendered as it is.
  const json = (value: unknown) => respond().text(config.mirothinkerRelease === 'v1.0' ? pyJson(value, 2) : pyJson(value));

  async function search(request: SearchRequest, context: ToolContext) {
    const outcome = await runtime.engine.search(request, { signal: context.signal });
    const kept = outcome.results.filter((result) => !(config.huggingfaceFilter && isBannedResult(result.url)));
    return { results: kept.slice(0, request.num), provider: outcome.provider };
  }

  const googleSearch = defineTool({
    name: 'google_search',
    title: 'google_search',
    description: mirothinkerTool(SEARCH_SERVER, 'google_search').description,
    input: z.object({
      q: z.string(),
      gl: z.string().default('us'),
      hl: z.string().default('en'),
      location: z.string().nullable().optional(),
      num: z.number().int().nullable().optional(),
      tbs: z.string().nullable().optional(),
      page: z.number().int().nullable().optional(),
      autocorrect: z.boolean().nullable().optional(),
    }),
    advertisedInputSchema: mirothinkerTool(SEARCH_SERVER, 'google_search').inputSchema,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ q, gl, hl, location, num, tbs, page, autocorrect }, context) {
      const query = q.trim();
      if (!query) return json({ success: false, error: "Search query 'q' is required and cannot be empty", results: [] });
      const timeRange = tbs ? TBS[tbs] : undefined;
      if (tbs && !timeRange && !serperOnly(runtime)) {
        return json({ success: false, error: `Unsupported tbs value '${tbs}': use qdr:h, qdr:d, qdr:w, qdr:m or qdr:y (custom ranges need the Serper provider)`, results: [] });
      }
      const wanted = Math.max(1, Math.min(num ?? 10, 100));
      const request = (text: string): SearchRequest => ({
        query: text,
        num: wanted,
        page: Math.max(1, page ?? 1),
        language: hl,
        region: gl,
        includeDomains: [],
        excludeDomains: [],
        ...(timeRange ? { timeRange } : {}),
        ...(tbs && !timeRange ? { serperTbs: tbs } : {}),
        ...(location ? { location } : {}),
        ...(autocorrect !== null && autocorrect !== undefined ? { autocorrect } : {}),
      });
      try {
        let used = query;
        let { results, provider } = await search(request(query), context);
        if (!results.length && query.includes('"')) {
          const unquoted = query.replace(/"/g, '').trim();
          if (unquoted) {
            used = unquoted;
            ({ results, provider } = await search(request(unquoted), context));
          }
        }
        // Only what the answering provider applied is echoed: location and autocorrect are Serper's,
        // and a recency filter is named as the provider applied it (a day where it has no hour).
        const serper = provider === 'serper';
        const applied = timeRange ? runtime.engine.appliedTimeRange(provider, timeRange) : undefined;
        const appliedTbs = tbs && !timeRange ? tbs : applied ? QDR[applied] : undefined;
        const searchParameters = {
          q: used,
          gl,
          hl,
          ...(location && serper ? { location } : {}),
          type: 'search',
          num: wanted,
          ...(page ? { page } : {}),
          ...(appliedTbs ? { tbs: appliedTbs } : {}),
          ...(autocorrect !== null && autocorrect !== undefined && serper ? { autocorrect } : {}),
          // Serper answers for Google; any other provider is named as it is.
          engine: provider === 'serper' ? 'google' : provider,
        };
        return json({ organic: results.map((result, index) => organicItem(result, index + 1)), searchParameters });
      } catch (error) {
        return json({ success: false, error: `Unexpected error: ${errorMessage(error)}`, results: [] });
      }
    },
  });

  const scrape = defineTool({
    name: 'scrape_and_extract_info',
    title: 'scrape_and_extract_info',
    description: mirothinkerTool(SCRAPE_SERVER, 'scrape_and_extract_info').description,
    input: z.object({
      url: z.string(),
      info_to_extract: z.string(),
      custom_headers: z.record(z.string(), z.string()).nullable().optional(),
    }),
    advertisedInputSchema: mirothinkerTool(SCRAPE_SERVER, 'scrape_and_extract_info').inputSchema,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ url, info_to_extract, custom_headers }, context) {
      const failure = (error: string) => json({ success: false, url, extracted_info: '', error, scrape_stats: {}, tokens_used: 0 });
      // v1.0 had no direct-fetch fallback behind Jina; 99406c3 added it and this wording.
      const scrapeFailed = config.mirothinkerRelease === 'v1.0' ? 'Scraping failed: ' : 'Scraping failed (both Jina and Python): ';
      if (!url.trim()) return failure(`${scrapeFailed}URL cannot be empty`);
      if (config.huggingfaceFilter && isHuggingfaceLeak(url)) {
        return failure('You are trying to scrape a Hugging Face dataset for answers, please do not use the scrape tool for this purpose.');
      }
      let content: string;
      try {
        const page = await runtime.fetch(url.trim(), { mainContent: true, ...(custom_headers ? { headers: custom_headers } : {}), signal: context.signal });
        content = jinaReaderText(page);
      } catch (error) {
        return failure(scrapeFailed + errorMessage(error));
      }
      const shown = content.slice(0, MAX_SCRAPE_CHARS);
      const scrapeStats = {
        line_count: content.split('\n').length,
        char_count: content.length,
        last_char_line: shown ? shown.split('\n').length : 0,
        all_content_displayed: content.length <= MAX_SCRAPE_CHARS,
      };
      const extraction = await runtime.extractor.extract(shown, info_to_extract, { signal: context.signal });
      return json({
        success: true,
        url,
        extracted_info: extraction.text,
        error: '',
        scrape_stats: scrapeStats,
        model_used: extraction.note && extraction.method === 'passages' ? `${extraction.model}: ${extraction.note}` : extraction.model,
        tokens_used: extraction.tokensUsed,
        ...(extraction.method === 'passages' ? { note: PASSAGES_NOTE } : {}),
      });
    },
  });

  return [googleSearch, scrape];
}

const PASSAGES_NOTE =
  'No extraction model is configured (SUMMARY_LLM_BASE_URL, SUMMARY_LLM_MODEL_NAME): extracted_info holds the passages of the page that best match info_to_extract (BM25), not an answer to it.';

/**
 * The page as Jina Reader's default text answer gives it to MiroThinker's extractor: the title,
 * URL and published-time lines, then the markdown.
 */
export function jinaReaderText(page: { title?: string; finalUrl: string; published?: string; markdown: string }): string {
  return (
    `Title: ${page.title ?? ''}\n\nURL Source: ${page.finalUrl}\n\n` +
    (page.published ? `Published Time: ${page.published}\n\n` : '') +
    `Markdown Content:\n${page.markdown}`
  );
}

/** Custom tbs values (date ranges) reach only Serper, which takes Google's syntax. */
function serperOnly(runtime: SearchRuntime): boolean {
  const order = runtime.engine.order();
  return order.length > 0 && order[0]!.name === 'serper';
}

/** The tools under the server names MiroThinker was trained with. */
export const MIROTHINKER_GROUPS = { [SEARCH_SERVER]: ['google_search'], [SCRAPE_SERVER]: ['scrape_and_extract_info'] };
