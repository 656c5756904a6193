import type { ServerDefinition } from '@fathom/core';

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

// Each server loads when a command needs it (loading all four costs a server's start-up about a
// second); the specifiers are written out so the compiler and scripts/check-graph.mjs see them.
const DEFINITIONS: Record<ServerName, () => Promise<ServerDefinition>> = {
  search: async () => (await import('@fathom/search')).definition,
  browser: async () => (await import('@fathom/browser')).definition,
  files: async () => (await import('@fathom/files')).definition,
  'python-sandbox': async () => (await import('@fathom/python-sandbox')).definition,
};

export function loadDefinition(name: ServerName): Promise<ServerDefinition> {
  return DEFINITIONS[name]();
}

const MAIN_SCRIPTS: Record<ServerName, () => string> = {
  search: () => import.meta.resolve('@fathom/search/main'),
  browser: () => import.meta.resolve('@fathom/browser/main'),
  files: () => import.meta.resolve('@fathom/files/main'),
  'python-sandbox': () => import.meta.resolve('@fathom/python-sandbox/main'),
};

/** The file that runs a server as its own process. */
export function mainScript(name: ServerName): string {
  return new URL(MAIN_SCRIPTS[name]()).pathname;
}
