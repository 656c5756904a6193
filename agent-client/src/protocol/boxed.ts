/** Answers MiroThinker's output formatter treats as none, compared before trimming. */
const NO_ANSWER = new Set(['?', '??', '???', '？', '……', '…', '...', 'unknown']);

const BOXED = /\\boxed(?![\p{L}\p{N}_])/gu;

/**
 * The content of the last `\boxed{...}` (nested and escaped braces allowed), as MiroThinker's
 * output formatter reads it: an unclosed last one runs to the end of the text; undefined when
 * there is none or it is blank.
 */
export function lastBoxed(text: string): string | undefined {
  let last: string | undefined;
  BOXED.lastIndex = 0;
  for (let match = BOXED.exec(text); match; match = BOXED.exec(text)) {
    let open = BOXED.lastIndex;
    while (open < text.length && /\s/.test(text[open]!)) open++;
    if (text[open] !== '{') continue;
    let depth = 0;
    let index = open;
    for (; index < text.length; index++) {
      const char = text[index];
      if (char === '\\') index++;
      else if (char === '{') depth++;
      else if (char === '}' && --depth === 0) break;
    }
    last = text.slice(open + 1, Math.min(index, text.length));
    BOXED.lastIndex = Math.min(index + 1, text.length);
    if (index >= text.length) break;
  }
  if (last === undefined || NO_ANSWER.has(last)) return undefined;
  return last.trim() || undefined;
}
