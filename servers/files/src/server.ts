import { createToolServer, defineServer, packageVersion } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema } from './config.js';
import type { Config } from './config.js';
import { toolsFor } from './tools.js';

const version = packageVersion(new URL('../package.json', import.meta.url));

export function createServer(config: Config, logger?: Logger): FathomServer {
  return createToolServer({
    name: 'fathom-files',
    title: 'Fathom Files',
    version,
    tools: toolsFor(config),
    ...(logger ? { logger } : {}),
  });
}

export const definition = defineServer({
  name: 'files',
  title: 'Fathom Files',
  description: 'Documents of every format a research task meets, read as markdown.',
  version,
  defaultPort: 8933,
  configSchema,
  createServer,
});
