import type { BaseConfig } from './config.js';
import { Cache } from './cache.js';
import { HttpClient } from './net/index.js';
import type { NetOptions } from './net/index.js';
import type { Logger } from './log.js';

/** The guarded HTTP client as the operator configured it. */
export function httpClientFor(config: BaseConfig, logger: Logger, options: NetOptions = {}): HttpClient {
  return new HttpClient({
    allowPrivateNetwork: config.allowPrivateNetwork,
    allowHosts: config.egressAllow,
    logger,
    ...options,
  });
}

const MB = 1024 * 1024;

/**
 * The shared cache (the file, or the Redis of --cache-url), in the mode the operator chose. It is
 * pruned every minute with --cache-max-mb, and in Redis always: Redis drops an expired entry by
 * itself, pruning drops its line in the size index. (A SQLite file without a cap keeps expired
 * entries, which replay can still serve, as before.)
 */
export function openCache(config: BaseConfig): Cache {
  const prune = config.cacheMaxMb !== undefined || config.cacheUrl !== undefined;
  return Cache.open({
    path: config.cachePath,
    ...(config.cacheUrl ? { url: config.cacheUrl } : {}),
    mode: config.cacheMode,
    maxEntryBytes: Math.floor(config.cacheEntryMaxMb * MB),
    ...(config.cacheMaxMb !== undefined ? { maxBytes: Math.floor(config.cacheMaxMb * MB) } : {}),
    ...(prune ? { pruneEveryMs: 60_000 } : {}),
  });
}
