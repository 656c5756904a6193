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

/** The shared cache file, in the mode the operator chose. */
export function openCache(config: BaseConfig): Cache {
  return Cache.open({ path: config.cachePath, mode: config.cacheMode });
}
