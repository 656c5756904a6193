import { createLogger, defineToolServer } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema } from './config.js';
import type { Config } from './config.js';
import { toolsFor } from './tools.js';

export const definition = defineToolServer({
  name: 'search',
  title: 'Fathom Search',
  description: 'Web search across providers, pages fetched to clean markdown, and extraction.',
  packageJson: new URL('../package.json', import.meta.url),
  defaultPort: 8931,
  configSchema,
  tools: toolsFor,
});

export function createServer(config: Config, logger: Logger = createLogger('fathom.search')): Promise<FathomServer> | FathomServer {
  return definition.createServer(config, logger);
}
