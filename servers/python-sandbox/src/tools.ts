import type { ServerContext, Tool } from '@fathom/core';
import type { Config } from './config.js';
import type { SandboxRuntime } from './runtime.js';
import { defaultTools } from './tools/default.js';
import { MIROTHINKER_SERVER, mirothinkerTools } from './tools/mirothinker.js';

/** The tools of one server instance: the sandboxes they make belong to it, and close with it. */
export function toolsFor({ config, runtime, instance }: ServerContext<Config, SandboxRuntime>): Tool[] {
  instance.onClose(async () => {
    const sessions = await runtime.sessions().catch(() => undefined);
    await sessions?.closeOwnedBy(instance.id);
  });
  return config.profile === 'mirothinker' ? mirothinkerTools(runtime, instance.id) : defaultTools(runtime, instance.id);
}

/** In the mirothinker profile the tools are also served under the name the model knows, tool-python. */
export function toolGroups(config: Config): Record<string, string[] | 'all'> {
  return config.profile === 'mirothinker' ? { [MIROTHINKER_SERVER]: 'all' } : {};
}
