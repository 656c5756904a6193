import type { ServerDefinition } from '../serve.js';

/** The servers the CLI knows, in the order of their ports. */
export const SERVER_NAMES = ['search', 'browser', 'files', 'python-sandbox'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

/** The port of search; each server's default port is this plus its place in SERVER_NAMES. */
export const BASE_PORT = 8931;

/** A server's port under `fathom serve`: the same whichever servers run with it. */
export function serverPort(name: ServerName, basePort: number): number {
  return basePort + SERVER_NAMES.indexOf(name);
}

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
