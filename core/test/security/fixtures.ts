import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { afterEach } from 'vitest';
import { z } from 'zod';
import { baseConfigSchema, loadConfig } from '../../src/config.js';
import type { BaseConfig } from '../../src/config.js';
import { startHttpHost } from '../../src/http.js';
import type { HttpHost } from '../../src/http.js';
import { createLogger } from '../../src/log.js';
import { createToolServer } from '../../src/server.js';
import { defineTool } from '../../src/tool.js';
import type { Tool } from '../../src/tool.js';

export const quiet = createLogger('security-test', { level: 'silent' });

/** Calls of the `wait` tool whose signal aborted, by their `label`. */
export const abortedWaits: string[] = [];

/**
 * Waits `seconds` (or until its call is stopped), reporting progress 0 when it starts, then sends
 * a logging notification "waited <label>" (which travels on the session's standalone stream).
 */
export const waitTool = defineTool({
  name: 'wait',
  title: 'Wait',
  description: 'Waits for a while.',
  input: z.object({ seconds: z.number().describe('How long'), label: z.string().default('').describe('Echoed back') }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle({ seconds, label }, context) {
    await context.progress(0, 1, 'started');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, seconds * 1000);
      context.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        abortedWaits.push(label);
        resolve();
      });
    });
    if (!context.signal.aborted) await context.notify('info', `waited ${label}`);
    return `waited ${seconds} s ${label}`;
  },
});

export function testConfig(flags: Record<string, string> = {}): BaseConfig {
  return loadConfig(baseConfigSchema, { server: 'test', flags: { 'log-level': 'silent', 'cache-mode': 'off', ...flags }, env: {} });
}

/** `startTestHost` for a test file: every host it starts is closed after each test. */
export function hostsClosedAfterEach(): (flags?: Record<string, string>) => Promise<HttpHost> {
  const hosts: HttpHost[] = [];
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((host) => host.close()));
  });
  return async (flags = {}) => {
    const started = await startTestHost(flags);
    hosts.push(started);
    return started;
  };
}

/** A real HTTP host on a free loopback port serving `tools`. */
export async function startTestHost(flags: Record<string, string> = {}, tools: Tool[] = [waitTool]): Promise<HttpHost> {
  return startHttpHost({
    config: testConfig(flags),
    port: 0,
    name: 'test',
    version: '0.0.0',
    logger: quiet,
    createServer: async () => createToolServer({ name: 'test', version: '0.0.0', tools, logger: quiet }),
    endpoints: ['group'],
  });
}

export async function connectHttp(url: string, capabilities: ClientCapabilities = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'security-test', version: '0' }, { capabilities });
  await client.connect(transport);
  return { client, transport };
}

/** Starts a `wait` call and resolves `started` once the server reports it running. */
export function startWait(client: Client, seconds: number, label: string) {
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const result = client.callTool({ name: 'wait', arguments: { seconds, label } }, undefined, {
    onprogress: () => started(),
    timeout: 30_000,
  });
  return { running, result };
}
