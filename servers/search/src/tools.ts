import type { ServerContext, Tool } from '@fathom/core';
import type { Config } from './config.js';
import type { SearchRuntime } from './runtime.js';
import { defaultTools } from './tools/default.js';
import { MIROTHINKER_GROUPS, mirothinkerTools } from './tools/mirothinker.js';

export function toolsFor({ config, runtime }: ServerContext<Config, SearchRuntime>): Tool[] {
  return config.profile === 'mirothinker' ? mirothinkerTools(runtime) : defaultTools(runtime);
}

export function toolGroups(config: Config): Record<string, string[] | 'all'> {
  return config.profile === 'mirothinker' ? MIROTHINKER_GROUPS : {};
}
