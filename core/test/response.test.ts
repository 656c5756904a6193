import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FathomError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { respond } from '../src/response.js';
import { ERROR_META_KEY, createToolServer } from '../src/server.js';
import { defineTool } from '../src/tool.js';
import { connectInMemory, textOf } from '../src/testing.js';
import type { InMemoryConnection } from '../src/testing.js';

const quiet = createLogger('response-test', { level: 'silent' });
const annotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const long = Array.from({ length: 40 }, (_, i) => `Paragraph ${i + 1} of the page.`).join('\n\n');

describe('ToolResponse', () => {
  it('renders heading, sections, the budgeted body with its continuation line and notes, in that order', () => {
    const response = respond().heading('# Title').text('Source: https://example.org/');
    const slice = response.body(long, { maxChars: 200 });
    response.note('served from cache');
    const text = response.render();
    expect(slice.truncated).toBe(true);
    expect(text.startsWith('# Title\n\nSource: https://example.org/\n\nParagraph 1 of the page.')).toBe(true);
    expect(text).toContain(`more: call again with cursor "${slice.nextCursor}"]`);
    expect(text.endsWith('\n\n[note] served from cache')).toBe(true);
  });

  it('leaves the heading off a later window, and shows the empty text for an empty body', () => {
    const first = respond().heading('# Title');
    const slice = first.body(long, { maxChars: 200 });
    const next = respond().heading('# Title');
    next.body(long, { maxChars: 200, cursor: slice.nextCursor });
    expect(next.render().startsWith('Paragraph')).toBe(true);
    const empty = respond().heading('# Empty');
    empty.body('', { maxChars: 100, empty: '(the page has no text)' });
    expect(empty.render()).toBe('# Empty\n\n(the page has no text)');
  });

  it('renders a single text section byte for byte, and refuses a second body', () => {
    const exact = '{\n  "organic": []\n}\n\n';
    expect(respond().text(exact).reply()).toEqual({ text: exact });
    const response = respond();
    response.body('a', { maxChars: 10 });
    expect(() => response.body('b', { maxChars: 10 })).toThrow(/one body/);
  });
});

describe('errors reach the client with their code', () => {
  const connections: InMemoryConnection[] = [];
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.close()));
  });

  const tools = [
    defineTool({
      name: 'lookup',
      title: 'Lookup',
      description: 'Fails as asked.',
      input: z.object({ fail: z.enum(['none', 'not_found', 'crash']).describe('How to fail') }),
      output: z.object({ ok: z.boolean() }),
      annotations,
      async handle({ fail }) {
        if (fail === 'not_found') throw new FathomError('not_found', 'No such thing.', { hint: 'Try another name.' });
        if (fail === 'crash') throw new Error('boom');
        return respond<{ ok: boolean }>().text('fine').structured({ ok: true });
      },
    }),
  ];

  it('puts the FathomError code in _meta, and answers a ToolResponse like a reply', async () => {
    const connection = await connectInMemory(createToolServer({ name: 't', version: '1', tools, logger: quiet }));
    connections.push(connection);
    const ok = await connection.client.callTool({ name: 'lookup', arguments: { fail: 'none' } });
    expect(textOf(ok)).toBe('fine');
    expect(ok.structuredContent).toEqual({ ok: true });
    const missing = await connection.client.callTool({ name: 'lookup', arguments: { fail: 'not_found' } });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toBe('No such thing.\nTry another name.');
    expect(missing._meta).toEqual({ [ERROR_META_KEY]: { code: 'not_found' } });
    const crashed = await connection.client.callTool({ name: 'lookup', arguments: { fail: 'crash' } });
    expect(crashed._meta).toEqual({ [ERROR_META_KEY]: { code: 'internal' } });
    const invalid = await connection.client.callTool({ name: 'lookup', arguments: { fail: 'maybe' } });
    expect(invalid._meta).toEqual({ [ERROR_META_KEY]: { code: 'invalid_argument' } });
    const unknown = await connection.client.callTool({ name: 'nope', arguments: {} });
    expect(unknown._meta).toEqual({ [ERROR_META_KEY]: { code: 'not_found' } });
  });
});
