import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { LoggingMessageNotification, Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { FathomError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { createToolServer } from '../src/server.js';
import type { FathomServer } from '../src/server.js';
import { defineTool } from '../src/tool.js';
import type { Tool, ToolAnnotations } from '../src/tool.js';
import { connectInMemory, textOf } from '../src/testing.js';
import type { InMemoryConnection } from '../src/testing.js';

const quiet = createLogger('tool-server-test', { level: 'silent' });
const READ_ONLY: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

const connections: InMemoryConnection[] = [];
afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.close()));
});

function serverWith(tools: Tool[]): FathomServer {
  return createToolServer({ name: 'test-server', version: '1.2.3', tools, logger: quiet });
}

async function connect(tools: Tool[]): Promise<InMemoryConnection> {
  const connection = await connectInMemory(serverWith(tools));
  connections.push(connection);
  return connection;
}

/** A promise plus the function that settles it, to hand events from a handler to the test. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

const add = defineTool({
  name: 'add',
  title: 'Add numbers',
  description: 'Adds two numbers.',
  input: z.object({
    a: z.number().describe('First addend'),
    b: z.number().describe('Second addend'),
    note: z.string().optional().describe('Free text echoed back'),
  }),
  output: z.object({ sum: z.number().describe('a + b') }),
  annotations: READ_ONLY,
  async handle({ a, b }) {
    return { text: `${a} + ${b} = ${a + b}`, structured: { sum: a + b } };
  },
});

const structuredOnly = defineTool({
  name: 'structured_only',
  title: 'Structured only',
  description: 'Returns structured content with no text.',
  input: z.object({}),
  output: z.object({ n: z.number(), label: z.string() }),
  annotations: READ_ONLY,
  async handle() {
    return { structured: { n: 7, label: 'seven' } };
  },
});

const writer = defineTool({
  name: 'delete_thing',
  title: 'Delete a thing',
  description: 'Deletes a thing somewhere on the internet.',
  input: z.object({ id: z.string().describe('Which thing') }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  async handle({ id }) {
    return `deleted ${id}`;
  },
});

describe('tools/list', () => {
  it('advertises name, title, description, the JSON Schema of the input and all four hints', async () => {
    const { client } = await connect([add, writer]);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['add', 'delete_thing']);

    const listed = tools[0]!;
    expect(listed.title).toBe('Add numbers');
    expect(listed.description).toBe('Adds two numbers.');
    expect(listed.inputSchema).not.toHaveProperty('$schema');
    expect(listed.inputSchema.type).toBe('object');
    expect(listed.inputSchema.required).toEqual(['a', 'b']);
    expect(listed.inputSchema.properties).toEqual({
      a: { type: 'number', description: 'First addend' },
      b: { type: 'number', description: 'Second addend' },
      note: { type: 'string', description: 'Free text echoed back' },
    });
    expect(listed.outputSchema).not.toHaveProperty('$schema');
    expect(listed.outputSchema).toMatchObject({
      type: 'object',
      properties: { sum: { type: 'number', description: 'a + b' } },
      required: ['sum'],
    });
    expect(listed.annotations).toEqual({ title: 'Add numbers', ...READ_ONLY });

    const other = tools[1]!;
    expect(other.outputSchema).toBeUndefined();
    expect(other.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
      openWorldHint: true,
    });
  });

  it('advertises advertisedInputSchema verbatim while the zod input still validates', async () => {
    // Key order deliberately differs from the SDK's own (type, properties, required).
    const advertised = {
      required: ['query'],
      properties: { query: { type: 'string', description: 'Trained description' }, limit: { type: 'integer' } },
      type: 'object',
      additionalProperties: false,
    };
    const search = defineTool({
      name: 'google_search',
      title: 'Search',
      description: 'Trained description.',
      input: z.object({ query: z.string().min(1), limit: z.number().int().optional() }),
      advertisedInputSchema: advertised,
      annotations: READ_ONLY,
      async handle({ query, limit }) {
        return `searched ${query} (${limit ?? 'no limit'})`;
      },
    });
    const { client } = await connect([search]);

    // The SDK client re-parses the listing (its zod schema reorders keys), so read the wire as sent.
    const raw = (await client.request({ method: 'tools/list' }, z.unknown())) as { tools: { inputSchema: unknown }[] };
    expect(JSON.stringify(raw.tools[0]!.inputSchema)).toBe(JSON.stringify(advertised));
    const { tools } = await client.listTools();
    expect(tools[0]!.inputSchema).toEqual(advertised);

    const ok = await client.callTool({ name: 'google_search', arguments: { query: 'fathom', limit: 3 } });
    expect(ok.isError).toBeFalsy();
    expect(textOf(ok)).toBe('searched fathom (3)');

    const bad = await client.callTool({ name: 'google_search', arguments: { query: '' } });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toContain('query');
  });
});

describe('tools/call', () => {
  it('returns text and structured content for a valid call', async () => {
    const { client } = await connect([add]);
    const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    expect(result.isError).toBeFalsy();
    expect(result.content).toEqual([{ type: 'text', text: '2 + 3 = 5' }]);
    expect(result.structuredContent).toEqual({ sum: 5 });
  });

  it('renders structured content as JSON text when the tool gives no text', async () => {
    const { client } = await connect([structuredOnly]);
    const result = await client.callTool({ name: 'structured_only', arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ n: 7, label: 'seven' });
    expect(JSON.parse(textOf(result))).toEqual({ n: 7, label: 'seven' });
  });

  it('turns invalid arguments into an isError result naming the field and how to recover', async () => {
    const { client } = await connect([add]);
    const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 'two' } });
    expect(result.isError).toBe(true);
    const text = textOf(result);
    expect(text).toContain('Invalid arguments for add');
    expect(text).toMatch(/→ at b/);
    expect(text).toContain('call it again');

    const missing = await client.callTool({ name: 'add', arguments: { a: 1 } });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/→ at b/);
  });

  it('answers an unknown tool with isError listing the tools', async () => {
    const { client } = await connect([add, writer]);
    const result = await client.callTool({ name: 'subtract', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Unknown tool "subtract". This server\'s tools are: add, delete_thing.');
  });

  it('turns a FathomError into isError with its message and hint', async () => {
    const failing = defineTool({
      name: 'fetch_page',
      title: 'Fetch',
      description: 'Fails politely.',
      input: z.object({ url: z.string().describe('Page') }),
      annotations: READ_ONLY,
      async handle({ url }) {
        throw new FathomError('not_found', `No page at ${url}`, { hint: 'Check the address and try again.' });
      },
    });
    const { client } = await connect([failing]);
    const result = await client.callTool({ name: 'fetch_page', arguments: { url: 'https://x.test/a' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('No page at https://x.test/a\nCheck the address and try again.');
  });

  it('turns a crash into an internal-error result and keeps answering', async () => {
    let calls = 0;
    const flaky = defineTool({
      name: 'flaky',
      title: 'Flaky',
      description: 'Crashes on the first call.',
      input: z.object({}),
      annotations: READ_ONLY,
      async handle() {
        calls++;
        if (calls === 1) throw new Error('boom: null pointer');
        return 'fine now';
      },
    });
    const { client } = await connect([flaky]);
    const crashed = await client.callTool({ name: 'flaky', arguments: {} });
    expect(crashed.isError).toBe(true);
    expect(textOf(crashed)).toContain('internal error');
    expect(textOf(crashed)).toContain('boom: null pointer');

    const again = await client.callTool({ name: 'flaky', arguments: {} });
    expect(again.isError).toBeFalsy();
    expect(textOf(again)).toBe('fine now');
    expect(await client.ping()).toEqual({});
  });

  it('refuses output that breaks the output schema', async () => {
    const liar = defineTool({
      name: 'liar',
      title: 'Liar',
      description: 'Returns the wrong shape.',
      input: z.object({}),
      output: z.object({ count: z.number() }),
      annotations: READ_ONLY,
      async handle() {
        return { text: 'count is many', structured: { count: 'many' } as unknown as { count: number } };
      },
    });
    const { client } = await connect([liar]);
    const result = await client.callTool({ name: 'liar', arguments: {} });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(textOf(result)).toContain('breaks its schema');
    expect(textOf(result)).toContain('count');
  });
});

describe('notifications', () => {
  const chatty = defineTool({
    name: 'chatty',
    title: 'Chatty',
    description: 'Logs at two levels and reports progress.',
    input: z.object({}),
    annotations: READ_ONLY,
    async handle(_args, context) {
      await context.notify('info', { step: 'started' });
      await context.progress(1, 2, 'half way');
      await context.progress(2, 2);
      await context.notify('error', { step: 'finished' });
      return 'done';
    },
  });

  it('sends logging notifications the client receives, filtered by the level it set', async () => {
    const { client } = await connect([chatty]);
    const messages: LoggingMessageNotification['params'][] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
      messages.push(notification.params);
    });

    await client.callTool({ name: 'chatty', arguments: {} });
    await vi.waitFor(() => expect(messages).toHaveLength(2));
    expect(messages).toEqual([
      { level: 'info', logger: 'chatty', data: { step: 'started' } },
      { level: 'error', logger: 'chatty', data: { step: 'finished' } },
    ]);

    messages.length = 0;
    await client.setLoggingLevel('error');
    await client.callTool({ name: 'chatty', arguments: {} });
    await vi.waitFor(() => expect(messages).toHaveLength(1));
    // Notifications arrive in order: the info line would have come before the error line.
    expect(messages).toEqual([{ level: 'error', logger: 'chatty', data: { step: 'finished' } }]);
  });

  it('sends progress when the client asks for it', async () => {
    const { client } = await connect([chatty]);
    const updates: Progress[] = [];
    const result = await client.callTool({ name: 'chatty', arguments: {} }, undefined, {
      onprogress: (progress) => updates.push(progress),
    });
    expect(textOf(result)).toBe('done');
    expect(updates).toEqual([
      { progress: 1, total: 2, message: 'half way' },
      { progress: 2, total: 2 },
    ]);
  });

  it('sends no progress when the client did not ask for it', async () => {
    const { client } = await connect([chatty]);
    // A progress notification without a matching request token is reported through onerror.
    const errors: Error[] = [];
    client.onerror = (error) => errors.push(error);
    const result = await client.callTool({ name: 'chatty', arguments: {} });
    expect(textOf(result)).toBe('done');
    await client.ping();
    expect(errors).toEqual([]);
  });
});

describe('cancellation', () => {
  it('aborts the handler signal when the client aborts the request', async () => {
    const started = deferred();
    const sawAbort = deferred<boolean>();
    const slow = defineTool({
      name: 'slow',
      title: 'Slow',
      description: 'Waits until cancelled (or 20 s).',
      input: z.object({}),
      annotations: READ_ONLY,
      async handle(_args, { signal }) {
        started.resolve();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 20_000);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        sawAbort.resolve(signal.aborted);
        return 'finished';
      },
    });
    const { client } = await connect([slow, add]);
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: {} }, undefined, { signal: controller.signal });
    await started.promise;
    controller.abort(new Error('user pressed stop'));

    await expect(call).rejects.toThrow('user pressed stop');
    expect(await sawAbort.promise).toBe(true);
    const after = await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } });
    expect(after.structuredContent).toEqual({ sum: 2 });
  });
});

describe('creation', () => {
  it('throws on duplicate tool names', () => {
    expect(() => serverWith([add, add])).toThrow('Duplicate tool name in test-server');
  });

  it('throws on an invalid tool name', () => {
    for (const name of ['has space', '', 'slash/name', 'x'.repeat(129)]) {
      expect(() =>
        defineTool({
          name,
          title: 'Bad',
          description: 'Bad name.',
          input: z.object({}),
          annotations: READ_ONLY,
          handle: async () => 'never',
        }),
      ).toThrow(`Invalid tool name "${name}"`);
    }
  });
});

describe('protocol', () => {
  it('answers ping, and an unknown method with JSON-RPC error -32601', async () => {
    const { client } = await connect([add]);
    expect(await client.ping()).toEqual({});
    await expect(client.request({ method: 'nope' }, z.object({}))).rejects.toMatchObject({ code: -32601 });
    // The connection survives the protocol error.
    const result = await client.callTool({ name: 'add', arguments: { a: 4, b: 5 } });
    expect(result.structuredContent).toEqual({ sum: 9 });
  });
});
