/** Answers the model writes when it has none; they count as no answer. */
const NO_ANSWER = new Set(['', '?', '??', '???', '？', '…', '……', '...', 'unknown']);

/** Index of the `}` closing the `{` at `open`, skipping escaped braces; -1 when it never closes. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let index = open; index < text.length; index++) {
    const char = text[index];
    if (char === '\\') index++;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) return index;
  }
  return -1;
}

/** The content of the last balanced `\boxed{...}` (nested braces allowed), or undefined. */
export function lastBoxed(text: string): string | undefined {
  const boxed = /\\boxed(?![\p{L}\p{N}_])/gu;
  let last: string | undefined;
  while (boxed.exec(text)) {
    let open = boxed.lastIndex;
    while (open < text.length && /\s/.test(text[open]!)) open++;
    if (text[open] !== '{') continue;
    const close = closingBrace(text, open);
    if (close === -1) continue;
    last = text.slice(open + 1, close);
    boxed.lastIndex = close + 1;
  }
  const answer = last?.trim();
  return answer === undefined || NO_ANSWER.has(answer.toLowerCase()) ? undefined : answer;
}
