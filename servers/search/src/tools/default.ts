import { cutToBudget, defineTool, FathomError, respond } from '@fathom/core';
import { z } from 'zod';
import type { SearchRuntime } from '../runtime.js';
import { PROVIDER_LIST, PROVIDER_NAMES } from '../providers/registry.js';
import type { SearchRequest, SearchResult } from '../types.js';

const resultSchema = z.object({
  id: z.string(),
  title: z.string(),
  url: z.string(),
  snippet: z.string(),
  published: z.string().optional(),
  provider: z.string(),
  rank: z.number(),
});

const searchOutput = z.object({
  query: z.string(),
  provider: z.string(),
  results: z.array(resultSchema),
  attempts: z.array(z.object({ provider: z.string(), outcome: z.string(), detail: z.string().optional() })),
  indexing: z.string().optional().describe('Set while the local folders are still being indexed: the local results may be incomplete'),
});

const fetchOutput = z.object({
  url: z.string(),
  final_url: z.string(),
  canonical_url: z.string().optional(),
  title: z.string().optional(),
  published: z.string().optional(),
  content_type: z.string(),
  total_chars: z.number(),
  next_cursor: z.string().optional(),
  from_cache: z.boolean(),
  matches: z.number().optional(),
});

const extractOutput = z.object({
  url: z.string(),
  final_url: z.string(),
  method: z.enum(['llm', 'passages']),
  model: z.string(),
  tokens_used: z.number(),
  content_chars: z.number(),
  note: z.string().optional(),
});

const domains = z.array(z.string().min(1).max(253)).max(50).default([]);

function listing(results: SearchResult[]): string {
  return results
    .map((result, index) => `${index + 1}. ${result.title}\n   ${result.url}${result.published ? ` (${result.published})` : ''}\n   ${result.snippet}`)
    .join('\n');
}

/** Passages around each case-insensitive occurrence of `find`, merged where they overlap. */
export function findPassages(text: string, find: string, context = 300, limit = 20): { passages: string[]; total: number } {
  const needle = find.toLowerCase();
  const haystack = text.toLowerCase();
  const spans: [number, number][] = [];
  let total = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) {
    total++;
    const start = Math.max(0, at - context);
    const end = Math.min(text.length, at + needle.length + context);
    const last = spans[spans.length - 1];
    if (last && start <= last[1]) last[1] = end;
    else spans.push([start, end]);
  }
  const passages = spans.slice(0, limit).map(([start, end]) => `${start > 0 ? '…' : ''}${text.slice(start, end).trim()}${end < text.length ? '…' : ''}`);
  return { passages, total };
}

/** Markdown without its markup, for format "text". */
function plainText(markdown: string): string {
  return markdown
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/^#{1,6}\s+/gm, '')
    .replace(/(\*\*|__|`)/g, '')
    .replace(/\n{3,}/g, '\n\n');
}

export function defaultTools(runtime: SearchRuntime) {
  const webSearch = defineTool({
    name: 'web_search',
    title: 'Search the web',
    description:
      'Search the web. Returns ranked results (title, URL, snippet, date when known) from the configured providers ' +
      `(${PROVIDER_LIST}). ` +
      'Read a result with web_fetch, or ask it a question with extract.',
    input: z.object({
      query: z.string().trim().min(1, 'The query is empty').max(2000, 'The query is longer than 2,000 characters: shorten it'),
      num: z.number().int().min(1).max(50).default(10),
      page: z.number().int().min(1).max(20).default(1),
      language: z.string().regex(/^[a-z]{2}$/i, 'A two-letter language code such as "en"').optional(),
      region: z.string().regex(/^[a-z]{2}$/i, 'A two-letter country code such as "us"').optional(),
      time_range: z.enum(['hour', 'day', 'week', 'month', 'year']).optional(),
      include_domains: domains.describe('Only results from these domains'),
      exclude_domains: domains.describe('No results from these domains'),
      provider: z.enum(PROVIDER_NAMES).optional().describe('Use this provider only (default: the configured order, with fallback)'),
    }),
    output: searchOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle(args, context) {
      const request: SearchRequest = {
        query: args.query,
        num: args.num,
        page: args.page,
        includeDomains: args.include_domains,
        excludeDomains: args.exclude_domains,
        ...(args.language ? { language: args.language.toLowerCase() } : {}),
        ...(args.region ? { region: args.region.toLowerCase() } : {}),
        ...(args.time_range ? { timeRange: args.time_range } : {}),
      };
      const outcome = await runtime.engine.search(request, { ...(args.provider ? { provider: args.provider } : {}), signal: context.signal });
      const results = outcome.results.map(({ extra: _extra, ...result }) => result);
      const header = `${results.length} result${results.length === 1 ? '' : 's'} from ${outcome.provider} for "${args.query}"`;
      const passed = outcome.attempts.filter((attempt) => attempt.outcome === 'failed' || attempt.outcome === 'skipped');
      const indexing = outcome.attempts.some((attempt) => attempt.provider === 'local' && attempt.outcome === 'answered') ? runtime.folderPass?.note() : undefined;
      const response = respond<z.infer<typeof searchOutput>>()
        .structured({ query: args.query, provider: outcome.provider, results, attempts: outcome.attempts, ...(indexing ? { indexing } : {}) });
      if (results.length) response.heading(`${header}:`).text(listing(outcome.results));
      else response.heading(`${header}. Try other words, a wider time range or fewer domain filters.`);
      if (passed.length) response.note(`Tried first: ${passed.map((attempt) => `${attempt.provider} (${attempt.detail ?? attempt.outcome})`).join('; ')}`);
      return response.note(indexing);
    },
  });

  const webFetch = defineTool({
    name: 'web_fetch',
    title: 'Fetch a web page',
    description:
      'Fetch a web page (or a PDF or office document on the web) as clean markdown: the main content by default. ' +
      'Long pages come in parts: pass the cursor from the end of the result to continue. ' +
      'With find, only the passages containing that text are returned.',
    input: z.object({
      url: z.string().min(1).max(8192),
      main_content: z.boolean().default(true).describe('The main content (true) or the whole page (false)'),
      format: z.enum(['markdown', 'text', 'html']).default('markdown'),
      cursor: z.string().optional(),
      max_chars: z.number().int().min(500).max(200_000).default(20_000),
      find: z.string().min(1).max(500).optional().describe('Return only passages containing this text (case-insensitive)'),
    }),
    output: fetchOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ url, main_content, format, cursor, max_chars, find }, context) {
      const page = await runtime.fetch(url, { mainContent: main_content, signal: context.signal });
      if (format === 'html' && page.html === undefined) {
        throw new FathomError('invalid_argument', `${page.finalUrl} is ${page.type}, not HTML`, { hint: 'Ask for format "markdown" or "text".' });
      }
      const body = format === 'html' ? page.html! : format === 'text' ? plainText(page.markdown) : page.markdown;
      const meta = {
        url,
        final_url: page.finalUrl,
        ...(page.canonicalUrl ? { canonical_url: page.canonicalUrl } : {}),
        ...(page.title ? { title: page.title } : {}),
        ...(page.published ? { published: page.published } : {}),
        content_type: page.contentType,
        from_cache: page.fromCache,
      };
      const response = respond<z.infer<typeof fetchOutput>>().heading(
        [page.title ? `# ${page.title}` : '', `Source: ${page.finalUrl}${page.published ? ` (published ${page.published})` : ''}`].filter(Boolean).join('\n'),
      );
      if (find) {
        const { passages, total } = findPassages(body, find);
        const found = total
          ? `${total} match${total === 1 ? '' : 'es'} for "${find}"${passages.length < total ? ` (first ${passages.length} passages)` : ''}:\n\n${passages.join('\n\n---\n\n')}`
          : `No match for "${find}" in ${body.length.toLocaleString('en-US')} characters. Try another word, or read the page without find.`;
        // The passages come in one part: cut to the budget, with no cursor to read on.
        return response.text(cutToBudget(found, { maxChars: max_chars }).text).structured({ ...meta, total_chars: body.length, matches: total });
      }
      const slice = response.body(body, { maxChars: max_chars, cursor, empty: '(the page has no text)' });
      return response.structured({ ...meta, total_chars: slice.total, ...(slice.nextCursor ? { next_cursor: slice.nextCursor } : {}) });
    },
  });

  const extract = defineTool({
    name: 'extract',
    title: 'Extract information from a page',
    description:
      'Fetch a page and extract the information a question asks for. With an extraction model configured, the model answers ' +
      'from the page; without one, the passages most relevant to the question are returned. The result says which was used.',
    input: z.object({
      url: z.string().min(1).max(8192),
      question: z.string().trim().min(1, 'The question is empty').max(4000),
      max_chars: z.number().int().min(500).max(100_000).default(8000),
    }),
    output: extractOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ url, question, max_chars }, context) {
      const page = await runtime.fetch(url, { mainContent: true, signal: context.signal });
      const extraction = await runtime.extractor.extract(page.markdown, question, { maxChars: max_chars, signal: context.signal });
      return respond<z.infer<typeof extractOutput>>()
        .heading(extraction.method === 'llm' ? `Extracted by ${extraction.model} from ${page.finalUrl}:` : `From ${page.finalUrl}:`)
        .text(cutToBudget(extraction.text, { maxChars: max_chars }).text)
        .note(extraction.note)
        .structured({
          url,
          final_url: page.finalUrl,
          method: extraction.method,
          model: extraction.model,
          tokens_used: extraction.tokensUsed,
          content_chars: extraction.contentChars,
          ...(extraction.note ? { note: extraction.note } : {}),
        });
    },
  });

  return [webSearch, webFetch, extract];
}
