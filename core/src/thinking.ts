const OPEN = '<think>';
const CLOSE = '</think>';

/**
 * Which reasoning a model's text is cut free of:
 * - `leading`: a block that opens the text, or a closing tag alone before the answer (an unclosed
 *   opening block hides everything); tags further on are the answer's own text. For answers that
 *   may quote the tags, such as extraction.
 * - `last-close`: everything up to the last `</think>`, as MiroThinker reads a turn's answer.
 * - `every`: each `<think>…</think>` block wherever it stands, as a judge's reply is read.
 */
export type ThinkingRule = 'leading' | 'last-close' | 'every';

/** The text without its `<think>` reasoning, trimmed, by the rule the caller names. */
export function stripThinking(text: string, options: { rule: ThinkingRule }): string {
  if (options.rule === 'every') return text.replace(/<think>[\s\S]*?<\/think>/g, '').trim();
  const close = options.rule === 'last-close' ? text.lastIndexOf(CLOSE) : text.indexOf(CLOSE);
  if (options.rule === 'last-close') return (close < 0 ? text : text.slice(close + CLOSE.length)).trim();
  const open = text.indexOf(OPEN);
  const leadingOpen = open >= 0 && text.slice(0, open).trim() === '';
  if (close < 0) return leadingOpen ? '' : text.trim();
  if (open >= 0 && (!leadingOpen || open > close)) return text.trim();
  return text.slice(close + CLOSE.length).trim();
}

export interface RepetitionOptions {
  /** How much of the end is looked for, in characters (code points). Default 50. */
  tailChars?: number;
  /** More occurrences than this make a loop. Default 5. */
  limit?: number;
  /**
   * Count occurrences that overlap one another (the extraction check) rather than only disjoint
   * ones (MiroThinker's agent check). Default false.
   */
  overlapping?: boolean;
}

/** Whether the text ends in a loop: its last `tailChars` characters occur more than `limit` times. */
export function repeatsItself(text: string, options: RepetitionOptions = {}): boolean {
  const tailChars = options.tailChars ?? 50;
  const limit = options.limit ?? 5;
  const chars = Array.from(text);
  if (chars.length < tailChars) return false;
  const tail = chars.slice(-tailChars).join('');
  const step = options.overlapping ? 1 : tail.length;
  let count = 0;
  for (let at = text.indexOf(tail); at >= 0; at = text.indexOf(tail, at + step)) {
    if (++count > limit) return true;
  }
  return false;
}
