import { createLogger, defineToolServer } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema } from './config.js';
import type { Config } from './config.js';
import { FilesRuntime } from './runtime.js';
import { toolsFor } from './tools.js';

export const definition = defineToolServer({
  name: 'files',
  title: 'Fathom Files',
  description: 'Documents of every format a research task meets, read as markdown.',
  packageJson: new URL('../package.json', import.meta.url),
  defaultPort: 8933,
  configSchema,
  runtime: (config: Config, logger: Logger) => new FilesRuntime(config, logger),
  tools: toolsFor,
});

export function createServer(config: Config, logger: Logger = createLogger('fathom.files'), endpoint?: string): Promise<FathomServer> | FathomServer {
  return definition.createServer(config, logger, endpoint);
}
