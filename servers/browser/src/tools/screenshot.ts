import { defineTool, FathomError, respond } from '@fathom/core';
import type { Tool } from '@fathom/core';
import { z } from 'zod';
import { isBlankPage } from '../session.js';
import { resolveRef } from '../snapshot.js';
import { NO_PAGE, refField } from '../runtime.js';
import type { ToolRuntime } from '../runtime.js';
import { contextIdField } from './contexts.js';

/** browser_screenshot: a PNG of the viewport, the full page or one element, and a caption. */
export function screenshotTools(runtime: ToolRuntime): Tool[] {
  const { config } = runtime;
  const screenshot = defineTool({
    name: 'browser_screenshot',
    title: 'Screenshot',
    description: 'A PNG screenshot of the page (the viewport, the full page, or one element by its ref).',
    input: z.object({ ref: refField.optional(), full_page: z.boolean().default(false), context_id: contextIdField }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle({ ref, full_page, context_id }, context) {
      const session = await runtime.session(context, context_id);
      // A blank tab still gives an image (a host may only want to see that the browser runs); its caption says no page is open.
      const page = ref ? await runtime.openPage(session) : await session.page();
      const image = await session.read(
        page,
        async () => (ref ? (await resolveRef(page, ref)).screenshot({ type: 'png' }) : page.screenshot({ type: 'png', fullPage: full_page })),
        { limitMs: session.actionLimitMs() },
      );
      if (image.length > config.maxScreenshotBytes) {
        throw new FathomError('too_large', `The screenshot is ${image.length} bytes, over the ${config.maxScreenshotBytes}-byte limit`, {
          hint: 'Take the viewport only, or one element by its ref.',
        });
      }
      const caption = isBlankPage(page) ? `Screenshot of a blank tab. ${NO_PAGE}` : `Screenshot of ${page.url()}${ref ? ` (${ref})` : full_page ? ' (full page)' : ''}`;
      // The image comes first and its caption after it, as hosts showed them before.
      return respond().content({ type: 'image', data: image.toString('base64'), mimeType: 'image/png' }, { type: 'text', text: caption });
    },
  });
  return [screenshot];
}
