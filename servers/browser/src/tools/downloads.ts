import { defineTool, respond } from '@fathom/core';
import type { Tool } from '@fathom/core';
import { z } from 'zod';
import { events } from '../runtime.js';
import type { ToolRuntime } from '../runtime.js';
import { contextIdField } from './contexts.js';

/** browser_downloads: the files this session downloaded and where they were saved. */
export function downloadTools(runtime: ToolRuntime): Tool[] {
  const { config } = runtime;
  const downloads = defineTool({
    name: 'browser_downloads',
    title: 'Downloads',
    description: "Files downloaded in this session, saved under the server's output folder where the files server can read them.",
    input: z.object({ context_id: contextIdField }),
    output: z.object({
      downloads: z.array(z.object({ name: z.string(), bytes: z.number(), url: z.string(), path: z.string().describe('Where it was saved on the host') })),
      limit_reached: z.boolean().describe('True when this session may start no more downloads'),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle({ context_id }, context) {
      const session = await runtime.session(context, context_id);
      const listed = session.downloads.length
        ? session.downloads.map((file) => `${file.name} (${file.bytes} bytes) from ${file.url}\n  saved at ${file.path}`).join('\n')
        : 'No downloads in this session yet.';
      return respond<{ downloads: { name: string; bytes: number; url: string; path: string }[]; limit_reached: boolean }>()
        .structured({
          downloads: session.downloads.map((file) => ({ name: file.name, bytes: file.bytes, url: file.url, path: file.path })),
          limit_reached: session.downloadLimitReached,
        })
        .text(listed)
        .text(events(session))
        .note(
          session.downloadLimitReached
            ? `This session started its limit of ${config.maxDownloads} downloads (FATHOM_MAX_DOWNLOADS): further downloads are cancelled.`
            : undefined,
        );
    },
  });
  return [downloads];
}
