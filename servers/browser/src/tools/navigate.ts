import { defineTool } from '@fathom/core';
import type { Tool, ToolResponse } from '@fathom/core';
import { z } from 'zod';
import type { BrowserSession, NavigationResult } from '../session.js';
import { DEFAULT_VIEW_CHARS, viewCharsField } from '../runtime.js';
import type { ToolRuntime } from '../runtime.js';

const annotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };

const pageOutput = z.object({
  url: z.string().describe('Where the tab is now'),
  title: z.string(),
  status: z.number().optional().describe('HTTP status of the main document, when known'),
  total_chars: z.number().describe('Length of the whole markdown view'),
  next_cursor: z.string().optional().describe('Pass as cursor to browser_snapshot to read on; absent when the view fits'),
});

/** Where a navigation landed: the title and status in the heading, the page's markdown view as the body. */
async function pageAnswer(runtime: ToolRuntime, session: BrowserSession, result: NavigationResult, maxChars: number) {
  const text = await runtime.fullView(session, 'markdown');
  const lines = [`Title: ${result.title || '(none)'}`, ...(result.status ? [`Status: ${result.status}`] : [])];
  const response = runtime.onPage(session, session.current, lines) as ToolResponse<z.infer<typeof pageOutput>>;
  const slice = response.body(text, { maxChars });
  return response.structured({
    url: session.current.url(),
    title: result.title,
    ...(result.status ? { status: result.status } : {}),
    total_chars: slice.total,
    ...(slice.nextCursor ? { next_cursor: slice.nextCursor } : {}),
  });
}

/** browser_navigate and the history steps: back, forward, reload. */
export function navigateTools(runtime: ToolRuntime): Tool[] {
  const navigate = defineTool({
    name: 'browser_navigate',
    title: 'Open a URL',
    description:
      'Open a URL in the browser (a real Chromium; JavaScript runs). Returns the title, URL, HTTP status and a compact markdown view of the page ' +
      'with refs like [ref=m12] on links, buttons and fields: pass a ref to browser_click, browser_type and the other actions.',
    input: z.object({ url: z.string().min(1).max(8192), max_chars: viewCharsField(100_000, DEFAULT_VIEW_CHARS) }),
    output: pageOutput,
    annotations,
    async handle({ url, max_chars }, context) {
      const session = await runtime.session(context);
      return pageAnswer(runtime, session, await session.navigate(url), max_chars);
    },
  });

  const history = (name: 'browser_back' | 'browser_forward' | 'browser_reload', title: string, step: (session: BrowserSession) => Promise<NavigationResult>) =>
    defineTool({
      name,
      title,
      description: `${title}; returns the page like browser_navigate.`,
      input: z.object({ max_chars: viewCharsField(100_000, DEFAULT_VIEW_CHARS) }),
      output: pageOutput,
      annotations,
      async handle({ max_chars }, context) {
        const session = await runtime.session(context);
        return pageAnswer(runtime, session, await step(session), max_chars);
      },
    });

  return [
    navigate,
    history('browser_back', 'Go back', (session) => session.back()),
    history('browser_forward', 'Go forward', (session) => session.forward()),
    history('browser_reload', 'Reload', (session) => session.reload()),
  ];
}
