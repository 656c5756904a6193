import { createLogger, defineToolServer } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema, envAliases } from './config.js';
import { SearchRuntime } from './runtime.js';
import type { Config } from './config.js';
import { toolGroups, toolsFor } from './tools.js';

export { PROVIDER_NAMES, providerReport } from './providers/registry.js';

export const definition = defineToolServer({
  name: 'search',
  title: 'Fathom Search',
  description: 'Web search across providers, pages fetched to clean markdown, and extraction.',
  packageJson: new URL('../package.json', import.meta.url),
  defaultPort: 8931,
  configSchema,
  runtime: (config: Config, logger: Logger) => new SearchRuntime(config, logger),
  tools: toolsFor,
  toolGroups,
  envAliases,
});

export function createServer(config: Config, logger: Logger = createLogger('fathom.search'), endpoint?: string): Promise<FathomServer> | FathomServer {
  return definition.createServer(config, logger, endpoint);
}
