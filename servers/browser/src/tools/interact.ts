import { defineTool, FathomError } from '@fathom/core';
import type { Tool, ToolAnnotations, ToolResponse } from '@fathom/core';
import type { Page } from 'playwright-core';
import { z } from 'zod';
import { isPlaywrightTimeout } from '../session.js';
import { settleAfter } from '../settle.js';
import { resolveRef } from '../snapshot.js';
import { DEFAULT_VIEW_CHARS, fullField, refField } from '../runtime.js';
import type { ToolRuntime } from '../runtime.js';
import { contextIdField } from './contexts.js';

/** A click, a key or a field's value can submit a form or set off whatever the site does with it. */
const SUBMITS: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };
/** Moving the pointer or the view changes the page's state and may load more, but sends nothing of the agent's. */
const ACTS: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };
/** Waiting only watches the page. */
const WATCHES: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

const actionOutput = z.object({
  url: z.string().describe('Where the current tab is after the action'),
  title: z.string(),
  done: z.string().describe('What was done, e.g. "Clicked m12."'),
});

/** Acting on the page: click, type, select, press, hover, scroll, and waiting for it. */
export function interactTools(runtime: ToolRuntime): Tool[] {
  const { config } = runtime;

  /**
   * An action on an element: done (within the action time limit, plus `extraMs`), then answered with
   * what changed; with `settle`, once what it set off has landed (settleAfter).
   */
  const action = <I extends z.ZodRawShape>(
    name: string,
    title: string,
    description: string,
    input: I,
    run: (page: Page, args: z.infer<z.ZodObject<I>>) => Promise<string | void>,
    {
      extraMs = () => 0,
      settle = false,
      annotations = ACTS,
    }: { extraMs?: (args: z.infer<z.ZodObject<I>>) => number; settle?: boolean; annotations?: ToolAnnotations } = {},
  ) =>
    defineTool({
      name,
      title,
      description: `${description} Returns what changed on the page since the last view (full: true for the whole view).`,
      input: z.object({ ...input, full: fullField, context_id: contextIdField }),
      output: actionOutput,
      annotations,
      async handle(args, context) {
        const session = await runtime.session(context, (args as { context_id?: string }).context_id);
        const page = await runtime.openPage(session);
        const input = args as z.infer<z.ZodObject<I>>;
        const act = () => session.read(page, () => run(page, input), { limitMs: session.actionLimitMs(extraMs(input)), retry: false });
        const done = (await (settle ? settleAfter(page, act) : act())) ?? `${title}: done.`;
        await page.waitForLoadState('domcontentloaded', { timeout: 5000 }).catch(() => undefined);
        const text = await runtime.changes(session, (args as { full: boolean }).full);
        const response = runtime.onPage(session, session.current, [], done) as ToolResponse<z.infer<typeof actionOutput>>;
        response.body(text, { maxChars: DEFAULT_VIEW_CHARS });
        return response.structured({ url: session.current.url(), title: await session.titleOf(session.current), done });
      },
    });

  // A click may open a tab, start a download or fetch what the page shows next: its answer waits for those to land.
  const click = action(
    'browser_click',
    'Click',
    'Click an element by its ref.',
    { ref: refField },
    async (page, { ref }) => {
      await (await resolveRef(page, ref)).click();
      return `Clicked ${ref}.`;
    },
    { settle: true, annotations: SUBMITS },
  );

  const type = action(
    'browser_type',
    'Type',
    'Type text into a field by its ref (replacing what it holds); submit presses Enter after.',
    { ref: refField, text: z.string().max(100_000), submit: z.boolean().default(false) },
    async (page, { ref, text, submit }) => {
      const field = await resolveRef(page, ref);
      await field.fill(text);
      if (submit) await field.press('Enter');
      return `Typed into ${ref}${submit ? ' and pressed Enter' : ''}.`;
    },
    { annotations: SUBMITS },
  );

  const select = action('browser_select', 'Select', 'Choose options in a select element by its ref.', { ref: refField, values: z.array(z.string()).min(1) }, async (page, { ref, values }) => {
    const chosen = await (await resolveRef(page, ref)).selectOption(values);
    return `Selected ${chosen.join(', ')} in ${ref}.`;
  }, { annotations: SUBMITS });

  const press = action('browser_press', 'Press a key', 'Press a key or a combination, e.g. Enter, Escape, ArrowDown, Control+A.', { key: z.string().min(1).max(50) }, async (page, { key }) => {
    await page.keyboard.press(key);
    return `Pressed ${key}.`;
  }, { annotations: SUBMITS });

  const hover = action('browser_hover', 'Hover', 'Move the mouse over an element by its ref.', { ref: refField }, async (page, { ref }) => {
    await (await resolveRef(page, ref)).hover();
    return `Hovering over ${ref}.`;
  });

  const scroll = action(
    'browser_scroll',
    'Scroll',
    'Scroll an element into view by its ref, or the page up or down by a screen.',
    { ref: refField.optional(), direction: z.enum(['up', 'down']).optional() },
    async (page, { ref, direction }) => {
      if (ref) {
        await (await resolveRef(page, ref)).scrollIntoViewIfNeeded();
        return `Scrolled ${ref} into view.`;
      }
      if (!direction) throw new FathomError('invalid_argument', 'Give a ref or a direction', { hint: 'e.g. {"direction": "down"}' });
      await page.mouse.wheel(0, direction === 'down' ? 700 : -700);
      return `Scrolled ${direction}.`;
    },
  );

  const waitFor = action(
    'browser_wait_for',
    'Wait',
    'Wait until some text appears, until some text is gone, or for a number of seconds (at most 30). With text or gone, time_s is the ' +
      `longest wait (default ${config.actionTimeoutSeconds} s). Answers with the time it waited.`,
    { text: z.string().min(1).optional(), gone: z.string().min(1).optional(), time_s: z.number().min(0).max(30).optional() },
    async (page, { text, gone, time_s }) => {
      if (!text && !gone && time_s === undefined) throw new FathomError('invalid_argument', 'Give text, gone or time_s', { hint: 'e.g. {"text": "Results"}' });
      const started = performance.now();
      const waited = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
      if (!text && !gone) {
        await page.waitForTimeout((time_s ?? 0) * 1000);
        return `Waited ${waited()}.`;
      }
      // Playwright reads a timeout of 0 as none at all.
      const deadline = started + Math.max(1, (time_s ?? config.actionTimeoutSeconds) * 1000);
      const left = () => Math.max(1, deadline - performance.now());
      const until = async (what: string, state: 'visible' | 'hidden', failed: string) => {
        try {
          await page.getByText(what).first().waitFor({ state, timeout: left() });
        } catch (error) {
          if (!isPlaywrightTimeout(error)) throw error;
          throw new FathomError('timeout', `Waited ${waited()} and "${what}" ${failed}.`, {
            hint: 'Take a snapshot to see the page as it is, or wait longer (time_s, at most 30).',
          });
        }
      };
      if (text) await until(text, 'visible', 'did not appear');
      if (gone) await until(gone, 'hidden', 'did not go away');
      const done = text && gone ? `"${text}" appeared and "${gone}" is gone` : text ? `"${text}" appeared` : `"${gone}" is gone`;
      return `${done} after ${waited()}.`;
    },
    { extraMs: ({ time_s }) => (time_s ?? 0) * 1000, annotations: WATCHES },
  );

  return [click, type, select, press, hover, scroll, waitFor];
}
