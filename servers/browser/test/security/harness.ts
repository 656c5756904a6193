import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@fathom/core';
import { textOf } from '@fathom/core/testing';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { expect, onTestFinished } from 'vitest';
import { startBrowserSite } from '../../../../tests/fixtures/browser-site.js';
import type { BrowserSite } from '../../../../tests/fixtures/browser-site.js';
import { configSchema } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { createServer, definition } from '../../src/server.js';
import { startRemoteChromium } from '../remote-chromium.js';
import type { RemoteChromium } from '../remote-chromium.js';
import { startHostileSite } from './hostile-site.js';
import type { RecordingServer } from './hostile-site.js';

export { describeChromium } from '../chromium.js';

/** Long enough to tell a hang from an answer on a loaded 2-core machine. */
export const CALL_TIMEOUT_MS = 120_000;
/** A test makes several calls, some of which wait on purpose for a time limit to pass. */
export const TEST_TIMEOUT_MS = 300_000;

export interface Answer {
  text: string;
  isError: boolean;
  images: string[];
}

/** One MCP session of the browser server, connected in-process under its own session id. */
export interface Session {
  call(name: string, args?: Record<string, unknown>): Promise<Answer>;
  close(): Promise<void>;
}

export interface Browser {
  config: Config;
  output: string;
  /** The shared fixture site (tests/fixtures/browser-site.ts): ordinary pages for witnesses. */
  site: BrowserSite;
  /** Pages that attack the server, one way each. */
  hostile: RecordingServer;
  /** A new session (its own browser context), closed when the test that opened it ends. */
  session(name: string): Promise<Session>;
  /** A session that reads an ordinary page: the check that an attack on another session left it alone. */
  expectWitnessWorks(session: Session): Promise<void>;
  close(): Promise<void>;
}

/**
 * How the server gets its browser: it launches its own, or (--cdp-endpoint) drives one already
 * running, here a Chromium the test starts with its DevTools endpoint open. The security cases run
 * against both, so that a remote browser is held to the same policy.
 */
export type BrowserMode = 'launched' | 'remote';
export const BROWSER_MODES: readonly BrowserMode[] = ['launched', 'remote'];

/**
 * What the remote browser's own resolver says about names: one a page may name that it maps to a
 * private address (127.0.0.2, where the private fixtures listen), as a rebinding or split-horizon
 * DNS on the browser's network would. The guard proxy resolves names itself, so it must not matter.
 */
export const REBOUND_HOST = 'rebound.test';
const REMOTE_RESOLVER = [`--host-resolver-rules=MAP ${REBOUND_HOST} 127.0.0.2`];

/** `startBrowser` for `mode`: with a remote Chromium of its own (closed with it) for 'remote'. */
export async function startBrowserIn(mode: BrowserMode, flags: Record<string, string> = {}, env: Record<string, string> = {}): Promise<Browser> {
  if (mode === 'launched') return startBrowser(flags, env);
  const remote: RemoteChromium = await startRemoteChromium(REMOTE_RESOLVER);
  let browser: Browser;
  try {
    browser = await startBrowser({ 'cdp-endpoint': remote.wsEndpoint, ...flags }, env);
  } catch (error) {
    await remote.close();
    throw error;
  }
  return {
    ...browser,
    async close() {
      await browser.close();
      await remote.close();
    },
  };
}

/** The browser server with its own output folder and `flags`, loopback on 127.0.0.1 allowed for the fixtures. */
export async function startBrowser(flags: Record<string, string> = {}, env: Record<string, string> = {}): Promise<Browser> {
  const output = mkdtempSync(join(tmpdir(), 'fathom-browser-security-'));
  let config: Config;
  try {
    config = loadConfig(configSchema, {
      server: 'browser',
      flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'cache-mode': 'off', ...flags },
      env,
      cwd: output,
    });
  } catch (error) {
    rmSync(output, { recursive: true, force: true });
    throw error;
  }
  const [site, hostile] = await Promise.all([startBrowserSite(), startHostileSite()]);
  const sessions: Session[] = [];

  async function session(name: string): Promise<Session> {
    const instance = await createServer(config, createLogger('fathom.browser', { level: 'error' }));
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    // The server keys browser sessions by MCP session id, as over HTTP: one context per session.
    serverSide.sessionId = name;
    const client = new Client({ name: `security-${name}`, version: '0.0.0' });
    await instance.server.connect(serverSide);
    await client.connect(clientSide);
    let closing: Promise<void> | undefined;
    const opened: Session = {
      async call(tool, args = {}) {
        const result = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: CALL_TIMEOUT_MS });
        const content = (result.content ?? []) as { type: string; mimeType?: string }[];
        return {
          text: textOf(result),
          isError: result.isError === true,
          images: content.filter((block) => block.type === 'image').map((block) => block.mimeType ?? ''),
        };
      },
      close() {
        closing ??= client.close().then(() => instance.close());
        return closing;
      },
    };
    sessions.push(opened);
    onTestFinished(() => opened.close());
    return opened;
  }

  return {
    config,
    output,
    site,
    hostile,
    session,
    async expectWitnessWorks(witness) {
      const opened = await witness.call('browser_navigate', { url: `${site.url}/static.html` });
      expect(opened.isError, opened.text).toBe(false);
      expect(opened.text).toContain('The harbour master logged 312 ships in 1897.');
      const found = await witness.call('browser_find', { query: '312 ships' });
      expect(found.text).toMatch(/^1 match/);
    },
    async close() {
      await Promise.allSettled(sessions.map((opened) => opened.close()));
      await definition.shutdown();
      await Promise.all([site.close(), hostile.close()]);
      rmSync(output, { recursive: true, force: true });
    },
  };
}

/** Resolves once `check` holds, asking again after each answer: for events the server reports later. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Still waiting for ${what} after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
