import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBrowserSite } from '../../../tests/fixtures/browser-site.js';
import type { BrowserSite } from '../../../tests/fixtures/browser-site.js';
import { configSchema } from '../src/config.js';
import type { Config } from '../src/config.js';
import { createServer, definition } from '../src/server.js';
import { describeChromium } from './chromium.js';

/** `<replica>.ctx_<hex>`: this server is the replica b1. */
const CONTEXT_ID = /^b1\.ctx_[0-9a-f]{32}$/;

let site: BrowserSite;
let output: string;
let config: Config;

beforeAll(async () => {
  site = await startBrowserSite();
  output = mkdtempSync(join(tmpdir(), 'fathom-browser-contexts-'));
  config = loadConfig(configSchema, { server: 'browser', flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'cache-mode': 'off', 'replica-id': 'b1' }, env: {}, cwd: tmpdir() });
});

afterAll(async () => {
  await definition.shutdown();
  await site?.close();
  if (output) rmSync(output, { recursive: true, force: true });
});

const connect = async () => connectInMemory(await createServer(config, createLogger('fathom.browser', { level: 'error' })));

async function call(on: InMemoryConnection, name: string, args: Record<string, unknown> = {}) {
  const result = await on.client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  return {
    text: textOf(result),
    isError: result.isError === true,
    structured: result.structuredContent as Record<string, unknown> | undefined,
    code: (result._meta?.['fathom/error'] as { code?: string } | undefined)?.code,
  };
}

const tabUrls = async (on: InMemoryConnection, contextId?: string) =>
  ((await call(on, 'browser_tabs', { action: 'list', ...(contextId ? { context_id: contextId } : {}) })).structured?.tabs as { url: string }[]).map((tab) => tab.url);

describeChromium('browser contexts addressed by context_id (Chromium)', () => {
  it("names the session's own context in browser_navigate's answer; that id addresses it, and leaving it out does as before", async () => {
    const client = await connect();
    try {
      const page = await call(client, 'browser_navigate', { url: `${site.url}/static.html` });
      const id = page.structured?.context_id as string;
      expect(id).toMatch(CONTEXT_ID);
      expect(page.text).toContain(`Context: ${id}`);
      expect((await call(client, 'browser_navigate', { url: `${site.url}/second.html` })).structured?.context_id).toBe(id);
      expect(await tabUrls(client, id)).toEqual([`${site.url}/second.html`]);
      expect(await tabUrls(client)).toEqual([`${site.url}/second.html`]);
      const back = await call(client, 'browser_back', { context_id: id });
      expect(back.structured).toMatchObject({ url: `${site.url}/static.html`, context_id: id });
      expect(back.text).not.toContain('Context:');
    } finally {
      await client.close();
    }
  });

  it('opens contexts apart from the session\'s own, each with its own tabs and page, addressed by their ids', async () => {
    const client = await connect();
    try {
      await call(client, 'browser_navigate', { url: `${site.url}/static.html` });
      const opened = await call(client, 'browser_open');
      expect(opened.structured).toEqual({ context_id: expect.stringMatching(CONTEXT_ID), idle_timeout_s: config.contextTtlSeconds });
      const other = opened.structured!.context_id as string;
      expect(opened.text).toContain(other);
      expect(await tabUrls(client, other)).toEqual(['about:blank']);
      const there = await call(client, 'browser_navigate', { url: `${site.url}/form.html`, context_id: other });
      expect(there.structured?.context_id).toBe(other);
      expect(there.text).toContain(`Context: ${other}`);
      const snapshot = await call(client, 'browser_snapshot', { context_id: other });
      expect(snapshot.structured?.url).toBe(`${site.url}/form.html`);
      // The session's own context did not move.
      expect(await tabUrls(client)).toEqual([`${site.url}/static.html`]);
      const found = await call(client, 'browser_find', { query: 'second page' });
      const link = (found.structured?.matches as { ref?: string }[])[0]?.ref;
      expect(link).toBeTruthy();
      const clicked = await call(client, 'browser_click', { ref: link });
      expect(clicked.structured?.url).toBe(`${site.url}/second.html`);
      expect(await tabUrls(client, other)).toEqual([`${site.url}/form.html`]);
      expect((await call(client, 'browser_open')).structured?.context_id).not.toBe(other);
    } finally {
      await client.close();
    }
  });

  it("refuses another client's context id, and an id nobody opened, with errors that say what to do", async () => {
    const owner = await connect();
    const stranger = await connect();
    try {
      const mine = (await call(owner, 'browser_open')).structured!.context_id as string;
      const own = (await call(owner, 'browser_navigate', { url: `${site.url}/static.html` })).structured!.context_id as string;
      for (const id of [mine, own]) {
        const refused = await call(stranger, 'browser_navigate', { url: `${site.url}/second.html`, context_id: id });
        expect(refused.isError).toBe(true);
        expect(refused.code).toBe('forbidden');
        expect(refused.text).toContain(`Browser context ${id} belongs to another client`);
        expect((await call(stranger, 'browser_snapshot', { context_id: id })).code).toBe('forbidden');
      }
      expect(await tabUrls(owner)).toEqual([`${site.url}/static.html`]);
      const unknown = await call(stranger, 'browser_tabs', { action: 'list', context_id: `ctx_${'0'.repeat(32)}` });
      expect(unknown).toMatchObject({ isError: true, code: 'not_found' });
      expect(unknown.text).toContain('browser_open');
      const ours = await call(stranger, 'browser_tabs', { action: 'list', context_id: `b1.ctx_${'0'.repeat(32)}` });
      expect(ours).toMatchObject({ isError: true, code: 'not_found' });
      const elsewhere = await call(stranger, 'browser_tabs', { action: 'list', context_id: `r9.ctx_${'0'.repeat(32)}` });
      expect(elsewhere).toMatchObject({ isError: true, code: 'wrong_replica' });
      expect(elsewhere.text).toContain(`Browser context r9.ctx_${'0'.repeat(32)} was opened on replica r9; this is replica b1`);
      expect(elsewhere.text).toContain('the state is lost');
      expect(elsewhere.text).toContain('browser_open');
      const malformed = await call(stranger, 'browser_snapshot', { context_id: 'default' });
      expect(malformed.isError).toBe(true);
    } finally {
      await Promise.all([owner.close(), stranger.close()]);
    }
  });

  it("closes a client's contexts when its session ends, and one closed for idle time is refused, not opened again", async () => {
    const manager = definition.runtimeFor(config, createLogger('fathom.browser', { level: 'error' }));
    const owner = await connect();
    const before = manager.sessionCount;
    const first = (await call(owner, 'browser_open')).structured!.context_id as string;
    const second = (await call(owner, 'browser_open')).structured!.context_id as string;
    await call(owner, 'browser_navigate', { url: `${site.url}/static.html`, context_id: first });
    expect(manager.sessionCount).toBe(before + 2);
    // What the idle sweep does to a context unused past its time to live.
    await manager.closeSession(first);
    const idle = await call(owner, 'browser_snapshot', { context_id: first });
    expect(idle).toMatchObject({ isError: true, code: 'not_found' });
    expect(idle.text).toContain('closed after its idle time');
    expect(manager.sessionCount).toBe(before + 1);
    expect((await call(owner, 'browser_navigate', { url: `${site.url}/static.html`, context_id: second })).isError).toBe(false);
    await owner.close();
    expect(manager.sessionCount).toBe(before);
    const later = await connect();
    try {
      expect((await call(later, 'browser_tabs', { action: 'list', context_id: second })).code).toBe('not_found');
    } finally {
      await later.close();
    }
  });
});
