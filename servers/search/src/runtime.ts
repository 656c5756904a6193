import { dirname, join } from 'node:path';
import { HttpClient, httpClientFor, openCache } from '@fathom/core';
import type { Cache, Logger } from '@fathom/core';
import { WorkerPool } from '@fathom/files/pool';
import type { Config } from './config.js';
import { SearchEngine } from './engine.js';
import { Extractor } from './extract.js';
import { PageFetcher } from './fetch.js';
import type { FetchedPage } from './fetch.js';
import { LocalIndex } from './index-store.js';
import type { FolderPass } from './index-store.js';
import { allProviders } from './providers/registry.js';

const RECENT_PAGES = 32;

/** What every session of the search server shares: clients, cache, index, engine, fetcher, extractor. */
export class SearchRuntime {
  readonly cache: Cache;
  readonly pages: HttpClient;
  readonly providerHttp: HttpClient;
  readonly index: LocalIndex;
  /** The first pass over the operator's folders (`--local-folders`), when there are any. */
  readonly folderPass: FolderPass | undefined;
  readonly engine: SearchEngine;
  readonly fetcher: PageFetcher;
  readonly extractor: Extractor;
  readonly pool: WorkerPool;
  private readonly recent = new Map<string, { page: FetchedPage; at: number }>();

  constructor(
    readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.cache = openCache(config);
    this.pages = httpClientFor(config, logger, {
      maxBytes: config.maxPageBytes,
      timeoutMs: config.fetchTimeoutSeconds * 1000,
      userAgent: config.userAgent,
    });
    // Provider endpoints are the operator's choice (a SearXNG on localhost is common); the engine does the retrying.
    this.providerHttp = new HttpClient({ allowPrivateNetwork: true, retries: 0, timeoutMs: 20_000, logger });
    const indexPath = config.indexPath ?? (config.cacheMode === 'off' || config.cachePath === ':memory:' ? ':memory:' : join(dirname(config.cachePath), 'search-index.sqlite'));
    // Servers with other address policies may share the file: list only pages this one could have fetched.
    this.index = LocalIndex.open(indexPath, { lists: (peers) => this.pages.refusedPeer(peers) === undefined });
    this.folderPass = config.localFolders.length ? this.startFolderPass() : undefined;
    this.engine = new SearchEngine({
      config,
      logger,
      http: this.providerHttp,
      cache: this.cache,
      providers: allProviders(this.index, this.folderPass),
    });
    this.pool = new WorkerPool({ size: config.workers, logger });
    this.fetcher = new PageFetcher({ config, http: this.pages, cache: this.cache, logger, pool: this.pool });
    this.extractor = new Extractor({ config, logger });
  }

  private startFolderPass(): FolderPass {
    const pass = this.index.indexFolders(this.config.localFolders);
    void pass.finished.then((outcomes) => {
      for (const { folder, counts, error } of outcomes) {
        if (counts) this.logger.info('indexed folder', { folder, ...counts });
        else this.logger.warn('could not index folder', { folder, error: String(error) });
      }
    });
    return pass;
  }

  /**
   * Fetches a page and keeps it in the local index, so later searches find it offline. The last
   * few converted pages stay in memory: an agent reads one page in several calls.
   */
  async fetch(url: string, options: { mainContent?: boolean; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<FetchedPage> {
    const remember = this.config.cacheMode === 'normal' || this.config.cacheMode === 'replay';
    const key = JSON.stringify([url, options.mainContent ?? true, options.headers ?? {}]);
    const recent = remember ? this.recent.get(key) : undefined;
    if (recent && Date.now() - recent.at < this.config.pageTtlHours * 3_600_000) {
      this.recent.delete(key);
      this.recent.set(key, recent);
      return { ...recent.page, fromCache: true };
    }
    const page = await this.fetcher.fetch(url, options);
    if (remember) {
      this.recent.set(key, { page, at: Date.now() });
      if (this.recent.size > RECENT_PAGES) this.recent.delete(this.recent.keys().next().value!);
    }
    try {
      this.index.addPage({ url: page.finalUrl, title: page.title ?? page.finalUrl, markdown: page.markdown, source: 'web', peers: page.peers });
    } catch (error) {
      this.logger.warn('could not index page', { url: page.finalUrl, error: String(error) });
    }
    return page;
  }

  async close(): Promise<void> {
    await Promise.all([this.pages.close(), this.providerHttp.close(), this.fetcher.close(), this.extractor.close(), this.pool.close(), this.folderPass?.stop()]);
    this.index.close();
    await this.cache.close();
  }
}
