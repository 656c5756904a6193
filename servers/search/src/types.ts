import type { HttpClient, Logger } from '@fathom/core';
import type { z } from 'zod';

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
  /** The provider's name, one of PROVIDER_NAMES. */
  provider: string;
  /** 1-based position in the provider's answer. */
  rank: number;
  /** Provider fields worth keeping, e.g. Serper's sitelinks. */
  extra?: Record<string, unknown>;
}

/** What a provider is given per search; `config` is the server's config, typed as the provider's own fragment of it. */
export interface ProviderContext<C = unknown> {
  /** A client for the operator's configured endpoints (these may be on a private network). */
  http: Pick<HttpClient, 'request'>;
  config: C;
  logger: Logger;
  signal?: AbortSignal;
}

/** When the engine tries a provider if the operator names none: once its setting is given, always (the keyless fallbacks), or only when asked for. */
export type DefaultUse = 'when-configured' | 'always' | 'when-named';

/**
 * One search provider, as data: its name, how docs and help describe it, its fragment of the
 * server's config (with environment aliases), and its client. `search` throws FathomError:
 * 'forbidden' for a refused key (401/403, naming the environment variable to fix), 'rate_limited'
 * with details.retryAfterMs when the provider says so, 'upstream' for 5xx or a malformed answer,
 * 'timeout' / 'network' as the client raises them.
 */
export interface SearchProvider<C = unknown, N extends string = string, S extends z.ZodRawShape = z.ZodRawShape> {
  readonly name: N;
  /** How the web_search description names it, e.g. "Serper/Google". */
  readonly title: string;
  /** One line for docs and help: what it is and what it needs. */
  readonly description: string;
  /** Its config keys, merged into the server's config schema. */
  readonly config: S;
  /** Environment names read besides FATHOM_<KEY>, per config key, e.g. { serperApiKey: ['SERPER_API_KEY'] }. */
  readonly env: Readonly<Record<string, readonly string[]>>;
  /** The setting that turns it on, e.g. { key: 'serperApiKey', env: 'SERPER_API_KEY' }. */
  readonly requires?: { readonly key: string; readonly env: string };
  readonly byDefault: DefaultUse;
  /** False where answers change with every call (the local index): never cached. */
  readonly cached: boolean;
  /** Takes a custom Google `tbs` value (SearchRequest.serperTbs). */
  readonly customTbs: boolean;
  /** The time range it filters by when asked for one (a wider one where it has none as short); absent: it does not filter by time. */
  readonly timeRanges?: Readonly<Record<TimeRange, TimeRange>>;
  /** What is missing for it to run (e.g. "SERPER_API_KEY is not set"), or undefined when ready. */
  missing(config: C): string | undefined;
  /** Where it sends its requests, as configured: answers from another endpoint are other answers. */
  endpoint(config: C): string;
  search(request: SearchRequest, context: ProviderContext<C>): Promise<SearchResult[]>;
}
