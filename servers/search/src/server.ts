import { createToolServer, defineServer, packageVersion } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema } from './config.js';
import type { Config } from './config.js';
import { toolsFor } from './tools.js';

const version = packageVersion(new URL('../package.json', import.meta.url));

export function createServer(config: Config, logger?: Logger): FathomServer {
  return createToolServer({
    name: 'fathom-search',
    title: 'Fathom Search',
    version,
    tools: toolsFor(config),
    ...(logger ? { logger } : {}),
  });
}

export const definition = defineServer({
  name: 'search',
  title: 'Fathom Search',
  description: 'Web search across providers, pages fetched to clean markdown, and extraction.',
  version,
  defaultPort: 8931,
  configSchema,
  createServer,
});
