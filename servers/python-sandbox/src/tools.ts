import type { ServerContext, Tool } from '@fathom/core';
import type { Config } from './config.js';
import type { SandboxRuntime } from './runtime.js';
import { defaultTools } from './tools/default.js';
import { MIROTHINKER_SERVER, mirothinkerTools } from './tools/mirothinker.js';

/**
 * A 2026-era HTTP request is an instance of its own, closed once it is answered: the sandboxes such
 * requests make belong to them all, reached by the id a later call passes back, and close when idle.
 */
const PER_REQUEST_OWNER = '2026-era requests';

/** The tools of one server instance: the sandboxes they make belong to it, and close with it (or, per request, when idle). */
export function toolsFor({ config, runtime, instance }: ServerContext<Config, SandboxRuntime>): Tool[] {
  const owner = instance.perRequest ? PER_REQUEST_OWNER : instance.id;
  if (!instance.perRequest) {
    instance.onClose(async () => {
      const sessions = await runtime.sessions().catch(() => undefined);
      await sessions?.closeOwnedBy(instance.id);
    });
  }
  return config.profile === 'mirothinker' ? mirothinkerTools(runtime, owner) : defaultTools(runtime, owner);
}

/** In the mirothinker profile the tools are also served under the name the model knows, tool-python. */
export function toolGroups(config: Config): Record<string, string[] | 'all'> {
  return config.profile === 'mirothinker' ? { [MIROTHINKER_SERVER]: 'all' } : {};
}
