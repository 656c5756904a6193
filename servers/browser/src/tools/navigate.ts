import { defineTool, respond } from '@fathom/core';
import type { Tool, ToolResponse } from '@fathom/core';
import { z } from 'zod';
import type { BrowserSession, NavigationResult } from '../session.js';
import { DEFAULT_VIEW_CHARS, viewCharsField } from '../runtime.js';
import type { ToolRuntime } from '../runtime.js';
import { contextIdField } from './contexts.js';

const annotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };

const pageOutput = z.object({
  url: z.string().describe('Where the tab is now'),
  title: z.string(),
  status: z.number().optional().describe('HTTP status of the main document, when known'),
  total_chars: z.number().describe('Length of the whole markdown view'),
  next_cursor: z.string().optional().describe('Pass as cursor to browser_snapshot to read on; absent when the view fits'),
  context_id: z.string().describe('The browser context this page is in: pass it as context_id to keep using it'),
});

const openOutput = z.object({
  context_id: z.string().describe('Pass as context_id to the other browser tools'),
  idle_timeout_s: z.number().describe('The context closes after this many seconds unused, or when this MCP session ends'),
});

/** Where a navigation landed: the title and status in the heading, the page's markdown view as the body. */
async function pageAnswer(runtime: ToolRuntime, session: BrowserSession, result: NavigationResult, maxChars: number, contextId: string, showContext = false) {
  const text = await runtime.fullView(session, 'markdown');
  const lines = [`Title: ${result.title || '(none)'}`, ...(result.status ? [`Status: ${result.status}`] : []), ...(showContext ? [`Context: ${contextId}`] : [])];
  const response = runtime.onPage(session, session.current, lines) as ToolResponse<z.infer<typeof pageOutput>>;
  const slice = response.body(text, { maxChars });
  return response.structured({
    url: session.current.url(),
    title: result.title,
    ...(result.status ? { status: result.status } : {}),
    total_chars: slice.total,
    ...(slice.nextCursor ? { next_cursor: slice.nextCursor } : {}),
    context_id: contextId,
  });
}

/** browser_navigate and the history steps: back, forward, reload. */
export function navigateTools(runtime: ToolRuntime): Tool[] {
  const navigate = defineTool({
    name: 'browser_navigate',
    title: 'Open a URL',
    description:
      'Open a URL in the browser (a real Chromium; JavaScript runs). Returns the title, URL, HTTP status and a compact markdown view of the page ' +
      'with refs like [ref=m12] on links, buttons and fields: pass a ref to browser_click, browser_type and the other actions. ' +
      'Also returns the id of the browser context it used: a client with no MCP session passes it back as context_id to keep its tabs, cookies and refs.',
    input: z.object({ url: z.string().min(1).max(8192), max_chars: viewCharsField(100_000, DEFAULT_VIEW_CHARS), context_id: contextIdField }),
    output: pageOutput,
    annotations,
    async handle({ url, max_chars, context_id }, context) {
      const session = await runtime.session(context, context_id, { open: true });
      return pageAnswer(runtime, session, await session.navigate(url), max_chars, runtime.contextId(context_id), true);
    },
  });

  const history = (name: 'browser_back' | 'browser_forward' | 'browser_reload', title: string, step: (session: BrowserSession) => Promise<NavigationResult>) =>
    defineTool({
      name,
      title,
      description: `${title}; returns the page like browser_navigate.`,
      input: z.object({ max_chars: viewCharsField(100_000, DEFAULT_VIEW_CHARS), context_id: contextIdField }),
      output: pageOutput,
      annotations,
      async handle({ max_chars, context_id }, context) {
        const session = await runtime.session(context, context_id);
        return pageAnswer(runtime, session, await step(session), max_chars, runtime.contextId(context_id));
      },
    });

  const open = defineTool({
    name: 'browser_open',
    title: 'Open a browser context',
    description:
      'Open a new, empty browser context (its own tabs, cookies and storage) and get its id: pass it as context_id to browser_navigate and ' +
      "the other tools. Without a context_id they use this MCP session's own context. A context closes after " +
      `${runtime.config.contextTtlSeconds} s unused or when the MCP session that opened it ends; only that session may use it.`,
    input: z.object({}),
    output: openOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    async handle() {
      const id = await runtime.openContext();
      const idle = runtime.config.contextTtlSeconds;
      return respond<z.infer<typeof openOutput>>()
        .text(`Opened browser context ${id}. Pass it as context_id; it closes after ${idle} s unused.`)
        .structured({ context_id: id, idle_timeout_s: idle });
    },
  });

  return [
    navigate,
    history('browser_back', 'Go back', (session) => session.back()),
    history('browser_forward', 'Go forward', (session) => session.forward()),
    history('browser_reload', 'Reload', (session) => session.reload()),
    open,
  ];
}
