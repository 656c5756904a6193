import { DocumentFetcher, FathomError, httpClientFor, openCache } from '@fathom/core';
import type { Cache, HttpClient, Logger } from '@fathom/core';
import { BwrapBackend, bwrapProblem } from './backends/bwrap.js';
import { E2BBackend } from './backends/e2b.js';
import { PyodideBackend } from './backends/pyodide.js';
import type { SandboxBackend } from './backends/types.js';
import type { Config } from './config.js';
import { Sessions } from './sessions.js';

async function chooseBackend(config: Config, logger: Logger): Promise<SandboxBackend> {
  const limits = {
    memoryMb: config.memoryMb,
    maxProcesses: config.maxProcesses,
    cpuSeconds: config.cpuSeconds,
    maxFileMb: config.maxFileMb,
    maxOpenFiles: config.maxOpenFiles,
    diskMb: config.diskMb,
    tmpMb: config.tmpMb,
    cpus: config.cpus,
    idleCpus: config.idleCpus,
  };
  const bwrap = () =>
    BwrapBackend.open({ python: config.python, limits, preload: config.preload, firstUid: config.firstUid, logger, ...(config.stateDir ? { stateDir: config.stateDir } : {}) });
  switch (config.backend) {
    case 'bwrap': {
      const problem = await bwrapProblem(config.python, config.firstUid);
      if (problem) {
        throw new FathomError('unavailable', `The bwrap sandbox cannot run here: ${problem}`, {
          hint: 'Install bubblewrap and python3 (scripts/setup-system.sh), or start the server with --backend pyodide.',
        });
      }
      return bwrap();
    }
    case 'pyodide':
      return new PyodideBackend({ logger, memoryMb: config.memoryMb });
    case 'e2b':
      if (!config.e2bApiKey) {
        throw new FathomError('invalid_config', 'The e2b backend needs an API key', { hint: 'Set E2B_API_KEY (or FATHOM_E2B_API_KEY).' });
      }
      return new E2BBackend({
        apiKey: config.e2bApiKey,
        sandboxTimeoutMs: config.sessionTtlSeconds * 1000,
        logger,
        ...(config.e2bTemplate ? { template: config.e2bTemplate } : {}),
      });
    case 'auto': {
      const problem = await bwrapProblem(config.python, config.firstUid);
      if (!problem) return bwrap();
      logger.warn('bubblewrap unavailable; running Python in WebAssembly (pyodide): standard library only', { problem });
      return new PyodideBackend({ logger, memoryMb: config.memoryMb });
    }
  }
}

/** What every session of a sandbox server shares: the backend and its sandboxes, the HTTP client, the cache, the document fetcher. */
export class SandboxRuntime {
  readonly http: HttpClient;
  readonly cache: Cache;
  readonly fetcher: DocumentFetcher;
  private readonly started: Promise<Sessions>;

  constructor(
    readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.http = httpClientFor(config, logger, { maxBytes: config.maxTransferMb * 1024 * 1024 });
    this.cache = openCache(config);
    this.fetcher = new DocumentFetcher({ http: this.http, cache: this.cache, logger, maxBytes: config.maxTransferMb * 1024 * 1024 });
    this.started = chooseBackend(config, logger).then((backend) => {
      logger.info('sandbox backend ready', { backend: backend.name, isolation: backend.describe() });
      return new Sessions(backend, {
        // Remote sandboxes cost money while they wait: no warm pool unless asked for explicitly.
        warmPool: backend.name === 'e2b' ? 0 : config.warmPool,
        maxLive: config.maxLiveSessions,
        defaultTtlMs: config.sessionTtlSeconds * 1000,
        maxTtlMs: Math.max(config.sessionTtlSeconds, 600) * 1000,
        logger,
        ...(config.replicaId ? { replica: config.replicaId } : {}),
      });
    });
    // The failure is reported by the first call that needs a sandbox.
    this.started.catch(() => undefined);
  }

  sessions(): Promise<Sessions> {
    return this.started;
  }

  async close(): Promise<void> {
    const sessions = await this.started.catch(() => undefined);
    await sessions?.close();
    await this.http.close();
    await this.cache.close();
  }
}
