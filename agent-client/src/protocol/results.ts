import { mirothinkerPrompts } from '@fathom/core';

/** Tool results longer than this (in characters, as Python counts them) are cut. */
export const RESULT_MAX_CHARS = 100_000;

export interface ResultOutcome {
  server: string;
  tool: string;
  text: string;
  isError: boolean;
}

/**
 * Cuts `text` to `max` characters counted as Python does (code points, not UTF-16 units) and
 * appends `suffix`; returns `text` unchanged when it is not longer than `max`.
 */
export function cutChars(text: string, max: number, suffix: string): string {
  if (text.length <= max) return text;
  let count = 0;
  for (let index = 0; index < text.length; ) {
    if (count === max) return text.slice(0, index) + suffix;
    index += text.codePointAt(index)! > 0xffff ? 2 : 1;
    count++;
  }
  return text;
}

/** One user message with every result of a turn, as the model saw results in training. */
export function toolResultsMessage(outcomes: ResultOutcome[]): string {
  const suffix = mirothinkerPrompts().result_truncated_suffix as string;
  return outcomes
    .map((outcome) =>
      outcome.isError
        ? `Tool call to ${outcome.tool} on ${outcome.server} failed. Error: ${outcome.text}`
        : cutChars(outcome.text, RESULT_MAX_CHARS, suffix),
    )
    .join('\n');
}
