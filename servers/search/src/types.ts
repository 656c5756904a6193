import type { HttpClient, Logger } from '@fathom/core';
import type { Config } from './config.js';

/** Every search provider Fathom speaks to, in its default order of preference among configured ones. */
export const PROVIDER_NAMES = ['serper', 'brave', 'tavily', 'exa', 'searxng', 'duckduckgo', 'wikipedia', 'local'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export type TimeRange = 'hour' | 'day' | 'week' | 'month' | 'year';

/** One query, in provider-neutral terms; each provider maps what it supports. */
export interface SearchRequest {
  query: string;
  /** Results wanted, 1–100. */
  num: number;
  /** 1-based page of results. */
  page: number;
  /** ISO 639-1 language, e.g. "en". */
  language?: string;
  /** ISO 3166-1 alpha-2 region, e.g. "us". */
  region?: string;
  timeRange?: TimeRange;
  includeDomains: string[];
  excludeDomains: string[];
  /** Serper only: a place such as "Austin, Texas, United States". */
  location?: string;
  /** Serper only. */
  autocorrect?: boolean;
  /** Serper only: a Google `tbs` value other than the recency ones, e.g. a custom date range. */
  serperTbs?: string;
}

export interface SearchResult {
  /** Stable across providers and runs: derived from the normalized URL. */
  id: string;
  title: string;
  url: string;
  snippet: string;
  /** Publication date as the provider gives it (ISO 8601 where it can be parsed). */
  published?: string;
  provider: ProviderName;
  /** 1-based position in the provider's answer. */
  rank: number;
  /** Provider fields worth keeping, e.g. Serper's sitelinks. */
  extra?: Record<string, unknown>;
}

export interface ProviderContext {
  /** A client for the operator's configured endpoints (these may be on a private network). */
  http: Pick<HttpClient, 'request'>;
  config: Config;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * One search provider. `search` throws FathomError: 'forbidden' for a refused key (401/403, naming
 * the environment variable to fix), 'rate_limited' with details.retryAfterMs when the provider
 * says so, 'upstream' for 5xx or a malformed answer, 'timeout' / 'network' as the client raises them.
 */
export interface SearchProvider {
  readonly name: ProviderName;
  /** What is missing for it to run (e.g. "SERPER_API_KEY is not set"), or undefined when ready. */
  missing(config: Config): string | undefined;
  /** Where it sends its requests, as configured: answers from another endpoint are other answers. */
  endpoint(config: Config): string;
  /** The time range it filters by when asked for one (a wider one where it has none as short); absent: it does not filter by time. */
  readonly timeRanges?: Readonly<Record<TimeRange, TimeRange>>;
  search(request: SearchRequest, context: ProviderContext): Promise<SearchResult[]>;
}
