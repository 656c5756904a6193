import { createHash } from 'node:crypto';
import { DocumentFetcher, httpClientFor, loadSource, openCache } from '@fathom/core';
import type { Cache, HttpClient, LoadedSource, Logger, ToolContext } from '@fathom/core';
import type { Config } from './config.js';
import type { ConvertedDocument, ConvertOptions } from './convert/types.js';
import { DEFAULT_LIMITS } from './convert/types.js';
import { WorkerPool } from './pool.js';
import { searchTooLong } from './search.js';
import type { SearchMatch, SearchRequest } from './search.js';

/** Bump when converters change their output, so cached conversions are redone. */
const CONVERTER_VERSION = 2;
const RECENT_DOCUMENTS = 8;

/** What every session of the files server shares: the worker pool, the cache, the HTTP client. */
export class FilesRuntime {
  readonly pool: WorkerPool;
  readonly cache: Cache;
  readonly http: HttpClient;
  readonly fetcher: DocumentFetcher;
  private readonly recent = new Map<string, ConvertedDocument>();

  constructor(
    readonly config: Config,
    logger: Logger,
  ) {
    this.pool = new WorkerPool({ size: config.workers, logger });
    this.cache = openCache(config);
    this.http = httpClientFor(config, logger, { maxBytes: config.maxFileBytes });
    this.fetcher = new DocumentFetcher({ http: this.http, cache: this.cache, logger, maxBytes: config.maxFileBytes });
  }

  async load(source: string, context: ToolContext): Promise<LoadedSource> {
    const roots = await context.roots();
    return loadSource(source, {
      roots,
      maxBytes: this.config.maxFileBytes,
      fetcher: this.fetcher,
      missingHint: 'Call list_files to see what can be read.',
    });
  }

  private convertOptions(): Partial<ConvertOptions> {
    const { config } = this;
    return {
      limits: { ...DEFAULT_LIMITS, maxBytes: config.maxFileBytes },
      ocr: config.ocr,
      ...(config.transcribeUrl
        ? { transcribe: { url: config.transcribeUrl, model: config.transcribeModel, ...(config.transcribeApiKey ? { apiKey: config.transcribeApiKey } : {}) } }
        : {}),
    };
  }

  /** The converted document, from the cache when these bytes were converted before. */
  async document(loaded: LoadedSource, mainContent = true): Promise<ConvertedDocument> {
    const hash = createHash('sha256').update(loaded.bytes).digest('hex');
    const key = { hash, mainContent, ocr: this.config.ocr, version: CONVERTER_VERSION };
    const memoKey = `${hash}:${mainContent}`;
    const recent = this.recent.get(memoKey);
    if (recent) {
      this.recent.delete(memoKey);
      this.recent.set(memoKey, recent);
      return recent;
    }
    const hit = await this.cache.get('files.document', key);
    if (hit) return this.remember(memoKey, hit.json<ConvertedDocument>());
    const input = { bytes: loaded.bytes, name: loaded.name, ...(loaded.mimeType ? { mimeType: loaded.mimeType } : {}), ...(loaded.url ? { url: loaded.url } : {}) };
    const document = await this.pool.run<ConvertedDocument>(
      { kind: 'convert', input, options: { ...this.convertOptions(), mainContent } },
      this.config.conversionTimeoutSeconds * 1000,
      loaded.display,
    );
    await this.cache.set('files.document', key, JSON.stringify(document), { ttlMs: 30 * 24 * 3600_000 });
    return this.remember(memoKey, document);
  }

  /** The last few documents stay parsed in memory: an agent reads one document in many calls. */
  private remember(key: string, document: ConvertedDocument): ConvertedDocument {
    this.recent.set(key, document);
    if (this.recent.size > RECENT_DOCUMENTS) this.recent.delete(this.recent.keys().next().value!);
    return document;
  }

  search(request: SearchRequest): Promise<{ matches: SearchMatch[]; total: number }> {
    return this.pool.run({ kind: 'search', request }, this.config.conversionTimeoutSeconds * 1000, 'the search', searchTooLong(request.regex));
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.http.close();
    await this.cache.close();
  }
}
