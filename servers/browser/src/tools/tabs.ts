import { defineTool, FathomError } from '@fathom/core';
import type { Tool, ToolResponse } from '@fathom/core';
import { z } from 'zod';
import type { ToolRuntime } from '../runtime.js';
import { contextIdField } from './contexts.js';

/** browser_tabs: list, open, select or close the session's tabs. */
export function tabTools(runtime: ToolRuntime): Tool[] {
  const output = z.object({
    tabs: z.array(z.object({ index: z.number(), title: z.string(), url: z.string(), current: z.boolean() })),
  });
  const tabs = defineTool({
    name: 'browser_tabs',
    title: 'Tabs',
    description: 'List, open, select or close tabs.',
    input: z.object({ action: z.enum(['list', 'new', 'select', 'close']), index: z.number().int().min(0).optional(), url: z.string().optional(), context_id: contextIdField }),
    // Closing a tab loses its page and history.
    output,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    async handle({ action, index, url, context_id }, context) {
      const session = await runtime.session(context, context_id);
      if (action === 'new') await session.newTab(url);
      if (action === 'select' || action === 'close') {
        if (index === undefined) throw new FathomError('invalid_argument', `Give the index of the tab to ${action}`, { hint: 'List the tabs first.' });
        if (action === 'select') session.selectTab(index);
        else await session.closeTab(index);
      }
      const tabs = await Promise.all(
        session.tabs.map(async (page, index) => ({ index, title: await session.titleOf(page), url: page.url(), current: page === session.current })),
      );
      const list = tabs.map((tab) => `${tab.index}. ${tab.current ? '(current) ' : ''}${tab.title || '(untitled)'} — ${tab.url}`);
      return (runtime.onPage(session, session.current) as ToolResponse<z.infer<typeof output>>).text(`Tabs:\n${list.join('\n')}`).structured({ tabs });
    },
  });
  return [tabs];
}
