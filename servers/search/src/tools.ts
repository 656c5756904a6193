import type { Logger, Tool } from '@fathom/core';
import type { Config } from './config.js';
import { runtimeFor } from './runtime.js';
import { defaultTools } from './tools/default.js';
import { MIROTHINKER_GROUPS, mirothinkerTools } from './tools/mirothinker.js';

export function toolsFor(config: Config, logger: Logger): Tool[] {
  const runtime = runtimeFor(config, logger);
  return config.profile === 'mirothinker' ? mirothinkerTools(runtime) : defaultTools(runtime);
}

export function toolGroups(config: Config): Record<string, string[] | 'all'> {
  return config.profile === 'mirothinker' ? MIROTHINKER_GROUPS : {};
}
