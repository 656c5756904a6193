import type { ServerDefinition } from '../serve.js';

/** The servers the CLI knows, in the order `fathom serve` gives them ports. */
export const SERVER_NAMES = ['search', 'browser', 'files', 'python-sandbox'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export function isServerName(name: string): name is ServerName {
  return (SERVER_NAMES as readonly string[]).includes(name);
}

export async function loadDefinition(name: ServerName): Promise<ServerDefinition> {
  const module = (await import(`@fathom/${name}`)) as { definition: ServerDefinition };
  return module.definition;
}

/** The file that runs a server as its own process. */
export function mainScript(name: ServerName): string {
  return new URL(import.meta.resolve(`@fathom/${name}/main`)).pathname;
}
