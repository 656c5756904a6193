import { defineTool, respond } from '@fathom/core';
import type { Tool } from '@fathom/core';
import { z } from 'zod';
import type { ToolRuntime } from '../runtime.js';
import { contextIdField } from './contexts.js';

/** browser_evaluate (offered only with --enable-evaluate): a JavaScript expression's value, as JSON. */
export function evaluateTools(runtime: ToolRuntime): Tool[] {
  const evaluate = defineTool({
    name: 'browser_evaluate',
    title: 'Run JavaScript',
    description: 'Evaluate a JavaScript expression in the page and return its value as JSON.',
    input: z.object({ expression: z.string().min(1).max(100_000), context_id: contextIdField }),
    output: z.object({
      value: z.unknown().optional().describe('The value, when its JSON fits in the answer (absent for undefined)'),
      json_chars: z.number().describe('Length of the value as JSON'),
      truncated: z.boolean().describe('True when the JSON was cut and value is left out'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    async handle({ expression, context_id }, context) {
      const session = await runtime.session(context, context_id);
      const page = await runtime.openPage(session);
      const value: unknown = await session.read(page, () => page.evaluate(expression), { retry: false });
      const json = JSON.stringify(value, null, 2) ?? 'undefined';
      const response = respond<{ value?: unknown; json_chars: number; truncated: boolean }>();
      const slice = response.body(json, { maxChars: 20_000 });
      return response.structured({ ...(value !== undefined && !slice.truncated ? { value } : {}), json_chars: json.length, truncated: slice.truncated });
    },
  });
  return [evaluate];
}
