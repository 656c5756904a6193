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

/**
 * One shared runtime per configuration: a server process builds its tools once per MCP session,
 * but pools, caches and sandboxes must be shared by all of them and closed once at shutdown.
 */
export function runtimeRegistry<C extends object, R extends { close(): Promise<void> }>(make: (config: C, logger: Logger) => R) {
  const runtimes = new Map<C, R>();
  return {
    get(config: C, logger: Logger): R {
      let runtime = runtimes.get(config);
      if (!runtime) runtimes.set(config, (runtime = make(config, logger)));
      return runtime;
    },
    async closeAll(): Promise<void> {
      const all = [...runtimes.values()];
      runtimes.clear();
      await Promise.all(all.map((runtime) => runtime.close()));
    },
  };
}
