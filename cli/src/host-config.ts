import type { ServeSettings } from './serve-all.js';
import { BASE_PORT, SERVER_NAMES, serverPort } from './servers.js';
import type { ServerName } from './servers.js';

export const HOSTS = ['claude-desktop', 'cursor', 'vscode', 'generic'] as const;
export type HostName = (typeof HOSTS)[number];
export type HostTransport = 'stdio' | 'http';

/** One entry of a host's server list, in both forms. */
export interface HostEntry {
  key: string;
  server: ServerName;
  command: string;
  args: string[];
  url: string;
  headers?: Record<string, string>;
}

/**
 * One entry per server, or, where a server's profile names its tool groups (the server names a
 * model knows, such as tool-python), one per group.
 */
export function hostEntries(options: ServeSettings, token?: string): HostEntry[] {
  const shownHost = options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return options.servers.flatMap((name) => {
    const { profile = 'default', endpoints = [] } = options.settings[name] ?? {};
    const groups = endpoints.length ? endpoints.map((group) => ({ key: group, path: `/mcp/${group}`, args: ['--endpoint', group] })) : [{ key: `fathom-${name}`, path: '/mcp', args: [] }];
    return groups.map((group) => ({
      key: group.key,
      server: name,
      command: 'node',
      args: [options.fathomBin, name, ...(profile === 'default' ? [] : ['--profile', profile]), ...(options.config ? ['--config', options.config] : []), ...group.args],
      url: `http://${shownHost}:${serverPort(name, options.basePort)}${group.path}`,
      ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
    }));
  });
}

/** The mcpServers JSON `fathom serve` prints: HTTP entries with `type`, stdio entries with command and args. */
export function hostConfig(options: ServeSettings, token?: string) {
  const entries = hostEntries(options, token);
  return { http: { mcpServers: byKey(entries, httpEntry) }, stdio: { mcpServers: byKey(entries, stdioEntry) } };
}

const stdioEntry = (entry: HostEntry) => ({ command: entry.command, args: entry.args });
const httpEntry = (entry: HostEntry) => ({ type: 'http', url: entry.url, ...(entry.headers ? { headers: entry.headers } : {}) });

function byKey(entries: HostEntry[], shape: (entry: HostEntry) => object): Record<string, object> {
  return Object.fromEntries(entries.map((entry) => [entry.key, shape(entry)]));
}

export class HostConfigError extends Error {}

/**
 * A host's configuration in its own shape, and the lines that say where it goes. The HTTP form
 * points at the servers `fathom serve` runs with the same options.
 */
export function printedConfig(host: HostName, transport: HostTransport, options: ServeSettings, token?: string): { config: object; notes: string[] } {
  const entries = hostEntries(options, token);
  const serveLine = `fathom serve${serveFlags(options)}`;
  const whileServing = transport === 'http' ? [`The URLs answer while "${serveLine}" runs.`] : [];
  switch (host) {
    case 'claude-desktop':
      if (transport === 'http') {
        throw new HostConfigError(
          "Claude Desktop's claude_desktop_config.json starts local servers over stdio only: use --transport stdio, " +
            'or add an HTTP URL in the app itself (Settings, Connectors).',
        );
      }
      return {
        config: { mcpServers: byKey(entries, stdioEntry) },
        notes: [
          'Claude Desktop: merge "mcpServers" into claude_desktop_config.json (Settings, Developer, Edit Config opens it), then restart the app:',
          '  macOS:   ~/Library/Application Support/Claude/claude_desktop_config.json',
          '  Windows: %APPDATA%\\Claude\\claude_desktop_config.json',
        ],
      };
    case 'cursor':
      return {
        config: { mcpServers: byKey(entries, transport === 'http' ? (entry) => ({ url: entry.url, ...(entry.headers ? { headers: entry.headers } : {}) }) : stdioEntry) },
        notes: [
          'Cursor: merge "mcpServers" into mcp.json, then turn the servers on in Cursor\'s MCP settings:',
          '  every project: ~/.cursor/mcp.json',
          '  one project:   <project>/.cursor/mcp.json',
          ...whileServing,
        ],
      };
    case 'vscode':
      return {
        config: { servers: byKey(entries, transport === 'http' ? httpEntry : (entry) => ({ type: 'stdio', ...stdioEntry(entry) })) },
        notes: [
          'VS Code: merge "servers" into mcp.json:',
          '  one workspace: <workspace>/.vscode/mcp.json',
          '  every workspace: the user mcp.json ("MCP: Open User Configuration" in the Command Palette)',
          ...whileServing,
        ],
      };
    case 'generic':
      return {
        config: { mcpServers: byKey(entries, transport === 'http' ? httpEntry : (entry) => ({ type: 'stdio', ...stdioEntry(entry) })) },
        notes: [
          'Any MCP host that reads the common "mcpServers" shape (Claude Code\'s .mcp.json, for one): merge it into the host\'s config file.',
          transport === 'http'
            ? '  Each entry is Streamable HTTP: "type": "http" and "url".'
            : '  Each entry starts a server over stdio: "type": "stdio", "command" and "args".',
          ...whileServing,
        ],
      };
  }
}

/** The `fathom serve` options that the HTTP URLs depend on, as flags. */
function serveFlags(options: ServeSettings): string {
  const flags: string[] = [];
  if (options.basePort !== BASE_PORT) flags.push(`--base-port ${options.basePort}`);
  if (options.host !== '127.0.0.1') flags.push(`--host ${options.host}`);
  if (options.servers.join(',') !== SERVER_NAMES.join(',')) flags.push(`--servers ${options.servers.join(',')}`);
  if (options.profile) flags.push(`--profile ${options.profile}`);
  if (options.config) flags.push(`--config ${options.config}`);
  return flags.map((flag) => ` ${flag}`).join('');
}
