import { FathomError, HostLimiter, isFathomError, sleep } from '@fathom/core';
import type { Cache, HttpClient, Logger, Peer } from '@fathom/core';
import type { Config } from './config.js';
import type { ProviderName } from './providers/registry.js';
import { normalizeUrl } from './urls.js';
import type { ProviderContext, SearchProvider, SearchRequest, SearchResult, TimeRange } from './types.js';

/** What happened with one provider during a search. */
export interface Attempt {
  provider: string;
  outcome: 'answered' | 'cached' | 'skipped' | 'failed';
  detail?: string;
}

export interface SearchOutcome {
  results: SearchResult[];
  /** The provider that answered, or the fused ones joined by "+". */
  provider: string;
  attempts: Attempt[];
}

export interface EngineOptions {
  config: Config;
  logger: Logger;
  /** For providers: the operator's endpoints, which may be private. */
  http: HttpClient;
  cache: Cache;
  /** Every provider it may ask, in the registry's order (`allProviders`). */
  providers: SearchProvider<Config>[];
}

/** Failures that another provider may not have: try the next one. */
const FALL_THROUGH = new Set(['rate_limited', 'upstream', 'timeout', 'network', 'unavailable', 'forbidden', 'not_found']);
/** Waiting for a provider's Retry-After is worth it only when it is this short and nothing else answered. */
const MAX_WAIT_MS = 10_000;
const RRF_K = 60;

/**
 * Searches with the configured providers in order, falling back on errors, keeping each provider
 * under its concurrency and pace, honouring Retry-After, caching answers; or asks all at once and
 * fuses their rankings.
 */
export class SearchEngine {
  private readonly limiter: HostLimiter;
  /** Provider → time before which it asked not to be called. */
  private readonly coolingUntil = new Map<string, number>();
  private readonly byName: Map<string, SearchProvider<Config>>;

  constructor(private readonly options: EngineOptions) {
    this.limiter = new HostLimiter(options.config.providerConcurrency, options.config.providerMinIntervalMs);
    this.byName = new Map(options.providers.map((provider) => [provider.name, provider]));
  }

  /**
   * Providers in the order they are tried: the operator's list, or else in the registry's order
   * every configured one, then those always tried (DuckDuckGo, then local).
   */
  order(): SearchProvider<Config>[] {
    const { config, providers } = this.options;
    if (!config.searchProviders.length) {
      return providers.filter((provider) => provider.byDefault === 'always' || (provider.byDefault === 'when-configured' && provider.missing(config) === undefined));
    }
    return config.searchProviders.map((name) => this.byName.get(name)).filter((provider): provider is SearchProvider<Config> => provider !== undefined);
  }

  provider(name: ProviderName): SearchProvider<Config> {
    const provider = this.byName.get(name);
    if (!provider) throw new FathomError('invalid_argument', `Unknown search provider "${name}"`, { hint: `Use one of: ${[...this.byName.keys()].join(', ')}.` });
    return provider;
  }

  /** The time range the provider(s) of an outcome ("brave", or fused "serper+exa") filtered by, when all applied the same. */
  appliedTimeRange(provider: string, range: TimeRange): TimeRange | undefined {
    const applied = new Set(provider.split('+').map((name) => this.byName.get(name)?.timeRanges?.[range]));
    return applied.size === 1 ? [...applied][0] : undefined;
  }

  async search(request: SearchRequest, options: { provider?: ProviderName; fanout?: boolean; signal?: AbortSignal } = {}): Promise<SearchOutcome> {
    const { config } = this.options;
    if (options.provider) {
      const provider = this.provider(options.provider);
      const missing = provider.missing(config);
      if (missing) throw new FathomError('invalid_config', `The ${provider.name} provider is not configured: ${missing}`, { hint: 'Set it up, or leave provider out to use the configured ones.' });
      return this.inOrder([provider], request, options.signal);
    }
    const providers = this.order();
    if (!providers.length) throw new FathomError('invalid_config', 'No search provider is selected', { hint: 'Set FATHOM_SEARCH_PROVIDERS or a provider key such as SERPER_API_KEY.' });
    return (options.fanout ?? config.fanout) ? this.fused(providers, request, options.signal) : this.inOrder(providers, request, options.signal);
  }

  private async inOrder(providers: SearchProvider<Config>[], request: SearchRequest, signal?: AbortSignal): Promise<SearchOutcome> {
    const attempts: Attempt[] = [];
    for (let pass = 0; pass < 2; pass++) {
      for (const provider of providers) {
        if (attempts.some((attempt) => attempt.provider === provider.name && attempt.outcome === 'failed')) continue;
        const waitMs = (this.coolingUntil.get(provider.name) ?? 0) - Date.now();
        if (waitMs > 0 && pass === 0) {
          attempts.push({ provider: provider.name, outcome: 'skipped', detail: `asked to wait ${Math.ceil(waitMs / 1000)} s` });
          continue;
        }
        if (waitMs > 0) await sleep(waitMs, signal);
        const answer = await this.ask(provider, request, signal).catch((error: unknown) => error as Error);
        if (!(answer instanceof Error)) {
          attempts.push({ provider: provider.name, outcome: answer.cached ? 'cached' : 'answered', ...(answer.results.length ? {} : { detail: 'no results' }) });
          // The local index is the last resort: its empty answer after every web provider failed is no web answer at all.
          if (provider.name === 'local' && !answer.results.length && attempts.some((attempt) => attempt.outcome === 'failed')) break;
          return { results: answer.results, provider: provider.name, attempts };
        }
        if (!isFathomError(answer) || !FALL_THROUGH.has(answer.code)) throw answer;
        const waitAfter = (this.coolingUntil.get(provider.name) ?? 0) - Date.now();
        // A provider that only asked to wait is not failed: it may be asked again after the wait.
        attempts.push({ provider: provider.name, outcome: waitAfter > 0 ? 'skipped' : 'failed', detail: answer.message });
        this.options.logger.info('search provider failed; trying the next', { provider: provider.name, error: answer.message });
      }
      // A second pass only for providers that asked to wait briefly and have not failed.
      const waiting = providers.filter((provider) => {
        const waitMs = (this.coolingUntil.get(provider.name) ?? 0) - Date.now();
        return waitMs > 0 && waitMs <= MAX_WAIT_MS && !attempts.some((attempt) => attempt.provider === provider.name && attempt.outcome === 'failed');
      });
      if (!waiting.length) break;
      providers = waiting;
    }
    throw new FathomError('unavailable', `No search provider answered: ${attempts.map((attempt) => `${attempt.provider}: ${attempt.detail ?? attempt.outcome}`).join('; ')}`, {
      hint: `Try again later, or configure another provider (${this.options.providers.flatMap((provider) => (provider.requires ? [provider.requires.env] : [])).join(', ')}).`,
      details: { attempts },
    });
  }

  /** Every provider at once; rankings fused by reciprocal rank, the same page counted once. */
  private async fused(providers: SearchProvider<Config>[], request: SearchRequest, signal?: AbortSignal): Promise<SearchOutcome> {
    const settled = await Promise.allSettled(providers.map((provider) => this.ask(provider, request, signal)));
    const attempts: Attempt[] = [];
    const scores = new Map<string, { result: SearchResult; score: number; providers: string[] }>();
    settled.forEach((outcome, index) => {
      const provider = providers[index]!;
      if (outcome.status === 'rejected') {
        attempts.push({ provider: provider.name, outcome: 'failed', detail: (outcome.reason as Error).message });
        return;
      }
      attempts.push({ provider: provider.name, outcome: outcome.value.cached ? 'cached' : 'answered' });
      for (const result of outcome.value.results) {
        const key = normalizeUrl(result.url);
        const entry = scores.get(key) ?? { result, score: 0, providers: [] };
        entry.score += 1 / (RRF_K + result.rank);
        entry.providers.push(provider.name);
        scores.set(key, entry);
      }
    });
    const answered = attempts.filter((attempt) => attempt.outcome !== 'failed');
    if (!answered.length) {
      throw new FathomError('unavailable', `No search provider answered: ${attempts.map((attempt) => `${attempt.provider}: ${attempt.detail}`).join('; ')}`, {
        hint: 'Try again later, or configure another provider.',
      });
    }
    const results = [...scores.values()]
      .sort((a, b) => b.score - a.score)
      .slice(0, request.num)
      .map((entry, index) => ({ ...entry.result, rank: index + 1, extra: { ...entry.result.extra, providers: entry.providers } }));
    return { results, provider: answered.map((attempt) => attempt.provider).join('+'), attempts };
  }

  /**
   * One provider's answer, from the cache when it is fresh (or always, in replay mode). An entry
   * keeps the addresses the provider's requests connected to, and is served only where this
   * engine's client reaches them all; elsewhere the provider is asked live and meets its refusal.
   */
  private async ask(provider: SearchProvider<Config>, request: SearchRequest, signal?: AbortSignal): Promise<{ results: SearchResult[]; cached: boolean }> {
    const { config, cache, http } = this.options;
    const missing = provider.missing(config);
    if (missing) throw new FathomError('unavailable', missing);
    if (request.serperTbs !== undefined && !provider.customTbs) throw new FathomError('unavailable', `takes no custom tbs filter ("${request.serperTbs}"); only Serper does`);
    if (!provider.cached) return { results: (await this.live(provider, request, signal)).results, cached: false };
    let cached = true;
    const key = { provider: provider.name, endpoint: provider.endpoint(config), request: { ...request } };
    const entry = await http.cachedFrom(
      cache,
      'search',
      key,
      async () => {
        cached = false;
        const { results, peers } = await this.live(provider, request, signal);
        return { body: JSON.stringify(results), peers };
      },
      { ttlMs: config.searchTtlHours * 3_600_000 },
    );
    return { results: entry.json<SearchResult[]>(), cached };
  }

  /** The provider asked now, under its limits, with the addresses every response it got came from. */
  private async live(provider: SearchProvider<Config>, request: SearchRequest, signal?: AbortSignal): Promise<{ results: SearchResult[]; peers: Peer[] }> {
    const { config, http, logger } = this.options;
    const peers: Peer[] = [];
    const recording: ProviderContext<Config>['http'] = {
      request: async (url, init) => {
        const response = await http.request(url, init);
        peers.push(...response.peers);
        return response;
      },
    };
    const release = await this.limiter.acquire(provider.name, signal);
    try {
      return { results: await provider.search(request, { http: recording, config, logger, ...(signal ? { signal } : {}) }), peers };
    } catch (error) {
      const retryAfterMs = isFathomError(error) ? (error.details as { retryAfterMs?: number } | undefined)?.retryAfterMs : undefined;
      if (retryAfterMs !== undefined) this.coolingUntil.set(provider.name, Date.now() + retryAfterMs);
      throw error;
    } finally {
      release();
    }
  }
}
