import { createToolServer, defineServer, packageVersion } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema } from './config.js';
import type { Config } from './config.js';
import { toolsFor } from './tools.js';

const version = packageVersion(new URL('../package.json', import.meta.url));

export function createServer(config: Config, logger?: Logger): FathomServer {
  return createToolServer({
    name: 'fathom-browser',
    title: 'Fathom Browser',
    version,
    tools: toolsFor(config),
    ...(logger ? { logger } : {}),
  });
}

export const definition = defineServer({
  name: 'browser',
  title: 'Fathom Browser',
  description: 'A real headless Chromium driven through Playwright.',
  version,
  defaultPort: 8932,
  configSchema,
  createServer,
});
