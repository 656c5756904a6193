import { createToolServer, defineServer, packageVersion } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema } from './config.js';
import type { Config } from './config.js';
import { toolsFor } from './tools.js';

const version = packageVersion(new URL('../package.json', import.meta.url));

export function createServer(config: Config, logger?: Logger): FathomServer {
  return createToolServer({
    name: 'fathom-python-sandbox',
    title: 'Fathom Python Sandbox',
    version,
    tools: toolsFor(config),
    ...(logger ? { logger } : {}),
  });
}

export const definition = defineServer({
  name: 'python-sandbox',
  title: 'Fathom Python Sandbox',
  description: 'Stateful Python sessions, isolated from the host.',
  version,
  defaultPort: 8934,
  configSchema,
  createServer,
});
