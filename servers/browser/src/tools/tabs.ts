import { defineTool, FathomError } from '@fathom/core';
import type { Tool } from '@fathom/core';
import { z } from 'zod';
import type { ToolRuntime } from '../runtime.js';

/** browser_tabs: list, open, select or close the session's tabs. */
export function tabTools(runtime: ToolRuntime): Tool[] {
  const tabs = defineTool({
    name: 'browser_tabs',
    title: 'Tabs',
    description: 'List, open, select or close tabs.',
    input: z.object({ action: z.enum(['list', 'new', 'select', 'close']), index: z.number().int().min(0).optional(), url: z.string().optional() }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    async handle({ action, index, url }, context) {
      const session = await runtime.session(context);
      if (action === 'new') await session.newTab(url);
      if (action === 'select' || action === 'close') {
        if (index === undefined) throw new FathomError('invalid_argument', `Give the index of the tab to ${action}`, { hint: 'List the tabs first.' });
        if (action === 'select') session.selectTab(index);
        else await session.closeTab(index);
      }
      const list = await Promise.all(
        session.tabs.map(async (page, position) => `${position}. ${page === session.current ? '(current) ' : ''}${(await session.titleOf(page)) || '(untitled)'} — ${page.url()}`),
      );
      return runtime.onPage(session, session.current).text(`Tabs:\n${list.join('\n')}`);
    },
  });
  return [tabs];
}
