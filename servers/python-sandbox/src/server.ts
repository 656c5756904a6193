import { createLogger, defineToolServer } from '@fathom/core';
import type { FathomServer, Logger } from '@fathom/core';
import { configSchema, envAliases } from './config.js';
import { SandboxRuntime } from './runtime.js';
import type { Config } from './config.js';
import { toolGroups, toolsFor } from './tools.js';

export const definition = defineToolServer({
  name: 'python-sandbox',
  title: 'Fathom Python Sandbox',
  description: 'Stateful Python sessions, isolated from the host.',
  packageJson: new URL('../package.json', import.meta.url),
  defaultPort: 8934,
  configSchema,
  runtime: (config: Config, logger: Logger) => new SandboxRuntime(config, logger),
  tools: toolsFor,
  toolGroups,
  envAliases,
  sessionState: 'its sandboxes (Python state, files)',
});

export function createServer(config: Config, logger: Logger = createLogger('fathom.python-sandbox'), endpoint?: string): Promise<FathomServer> | FathomServer {
  return definition.createServer(config, logger, endpoint);
}

export { findPython } from './python.js';
/** Unmounts the loop-mounted sandbox volumes a killed server left under `root`. */
export { unmountUnder } from './backends/volume.js';
