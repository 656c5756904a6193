import { createHash } from 'node:crypto';
import { httpClientFor, openCache } from '@fathom/core';
import type { Cache, HttpClient, Logger, ToolContext } from '@fathom/core';
import type { Config } from './config.js';
import type { ConvertedDocument, ConvertOptions } from './convert/types.js';
import { DEFAULT_LIMITS } from './convert/types.js';
import { assemblePdf } from './convert/pdf.js';
import type { PdfExtract } from './convert/pdf.js';
import { WorkerPool } from './pool.js';
import type { SearchMatch, SearchRequest } from './search.js';
import { loadSource } from './source.js';
import type { LoadedSource } from './source.js';

/** Bump when converters change their output, so cached conversions are redone. */
const CONVERTER_VERSION = 1;
/** Pages read before a PDF is split across workers; small PDFs need no split. */
const PDF_FIRST_PAGES = 16;

function isPdf(bytes: Uint8Array): boolean {
  return bytes[0] === 0x25 && bytes[1] === 0x50 && bytes[2] === 0x44 && bytes[3] === 0x46;
}

/** What every session of the files server shares: the worker pool, the cache, the HTTP client. */
export class FilesRuntime {
  readonly pool: WorkerPool;
  readonly cache: Cache;
  readonly http: HttpClient;

  constructor(
    readonly config: Config,
    logger: Logger,
  ) {
    this.pool = new WorkerPool({ size: config.workers, logger });
    this.cache = openCache(config);
    this.http = httpClientFor(config, logger, { maxBytes: config.maxFileBytes });
  }

  async load(source: string, context: ToolContext): Promise<LoadedSource> {
    const roots = (await context.roots()) ?? this.config.roots;
    return loadSource(source, { roots, maxBytes: this.config.maxFileBytes, http: this.http, cache: this.cache });
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
    const hit = this.cache.get('files.document', key);
    if (hit) return hit.json<ConvertedDocument>();
    const input = { bytes: loaded.bytes, name: loaded.name, ...(loaded.mimeType ? { mimeType: loaded.mimeType } : {}), ...(loaded.url ? { url: loaded.url } : {}) };
    const document = isPdf(loaded.bytes) && this.config.workers > 1
      ? await this.convertPdf(loaded)
      : await this.pool.run<ConvertedDocument>(
          { kind: 'convert', input, options: { ...this.convertOptions(), mainContent } },
          this.config.conversionTimeoutSeconds * 1000,
          loaded.display,
        );
    this.cache.set('files.document', key, JSON.stringify(document), { ttlMs: 30 * 24 * 3600_000 });
    return document;
  }

  /**
   * A PDF's pages split across the worker threads: the first pages tell the page count, the rest
   * are read in parallel ranges, and the ranges are joined (headers and footers judged on all).
   */
  private async convertPdf(loaded: LoadedSource): Promise<ConvertedDocument> {
    const timeout = this.config.conversionTimeoutSeconds * 1000;
    const pages = (first: number, last: number) =>
      this.pool.run<PdfExtract>({ kind: 'pdf-pages', bytes: loaded.bytes, first, last }, timeout, loaded.display);
    const head = await pages(1, PDF_FIRST_PAGES);
    if (head.pageCount <= PDF_FIRST_PAGES) return assemblePdf([head]);
    const rest = head.pageCount - PDF_FIRST_PAGES;
    const size = Math.ceil(rest / this.config.workers);
    const ranges = Array.from({ length: Math.ceil(rest / size) }, (_, i) => {
      const first = PDF_FIRST_PAGES + 1 + i * size;
      return pages(first, Math.min(head.pageCount, first + size - 1));
    });
    return assemblePdf([head, ...(await Promise.all(ranges))]);
  }

  search(request: SearchRequest): Promise<{ matches: SearchMatch[]; total: number }> {
    return this.pool.run({ kind: 'search', request }, this.config.conversionTimeoutSeconds * 1000, 'the search');
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.http.close();
    this.cache.close();
  }
}

const runtimes = new Map<Config, FilesRuntime>();

/** One runtime per configuration: in a server process, one for all its sessions. */
export function runtimeFor(config: Config, logger: Logger): FilesRuntime {
  let runtime = runtimes.get(config);
  if (!runtime) runtimes.set(config, (runtime = new FilesRuntime(config, logger)));
  return runtime;
}

export async function closeRuntime(): Promise<void> {
  const all = [...runtimes.values()];
  runtimes.clear();
  await Promise.all(all.map((runtime) => runtime.close()));
}
