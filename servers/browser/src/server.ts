import { createLogger, defineToolServer } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema, envAliases } from './config.js';
import type { Config } from './config.js';
import { BrowserManager } from './manager.js';
import { toolsFor } from './tools.js';

export const definition = defineToolServer({
  name: 'browser',
  title: 'Fathom Browser',
  description: 'A real headless Chromium driven through Playwright.',
  packageJson: new URL('../package.json', import.meta.url),
  defaultPort: 8932,
  configSchema,
  envAliases,
  runtime: (config: Config, logger: Logger) => new BrowserManager({ config, logger }),
  tools: toolsFor,
  sessionState: 'its browser contexts (pages, cookies, tabs)',
});

export function createServer(config: Config, logger: Logger = createLogger('fathom.browser'), endpoint?: string): Promise<FathomServer> | FathomServer {
  return definition.createServer(config, logger, endpoint);
}

export { findChromium } from './chromium.js';
export { configSchema, envAliases } from './config.js';
export { probeRemoteBrowser, shownEndpoint } from './manager.js';
