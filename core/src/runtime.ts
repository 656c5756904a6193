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

/** The shared cache (the file, or the Redis of --cache-url), in the mode the operator chose. */
export function openCache(config: BaseConfig): Cache {
  return Cache.open({
    path: config.cachePath,
    ...(config.cacheUrl ? { url: config.cacheUrl } : {}),
    mode: config.cacheMode,
    maxEntryBytes: Math.floor(config.cacheEntryMaxMb * MB),
    ...(config.cacheMaxMb !== undefined ? { maxBytes: Math.floor(config.cacheMaxMb * MB), pruneEveryMs: 60_000 } : {}),
  });
}
