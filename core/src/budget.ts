import { createHash } from 'node:crypto';
import { FathomError } from './errors.js';

/** One window of a longer text. Offsets are UTF-16 code units, like `String.prototype.slice`. */
export interface BudgetSlice {
  text: string;
  start: number;
  end: number;
  total: number;
  /** Present exactly when `truncated`: pass it back to get the next window. */
  nextCursor?: string;
  truncated: boolean;
}

export interface BudgetOptions {
  maxChars: number;
  cursor?: string;
}

/** How far back from the window's end a natural boundary is looked for. */
const SEARCH_FRACTION = 0.25;

const RESTART_HINT = 'Call again without a cursor to start from the beginning.';

/**
 * Cuts `text` to at most `maxChars` from the cursor's offset (or the start), on the most natural
 * boundary near the end of the window: paragraph, line, sentence, word, else a hard cut that
 * never splits a surrogate pair.
 */
export function cutToBudget(text: string, options: BudgetOptions): BudgetSlice {
  const { maxChars } = options;
  if (!Number.isSafeInteger(maxChars) || maxChars < 1) {
    throw new FathomError('invalid_argument', `The budget must be a whole number of characters of at least 1, not ${maxChars}.`);
  }
  const total = text.length;
  const start = options.cursor === undefined ? 0 : decodeCursor(options.cursor, text);
  const limit = start + maxChars;
  const end = limit >= total ? total : findCut(text, start, limit, maxChars);
  if (end >= total) return { text: text.slice(start), start, end: total, total, truncated: false };
  return {
    text: text.slice(start, end),
    start,
    end,
    total,
    nextCursor: encodeCursor(end, text),
    truncated: true,
  };
}

/** The line to append to a cut text so a model knows how to read on; empty when nothing was cut. */
export function continuationNote(slice: BudgetSlice): string {
  if (!slice.truncated || slice.nextCursor === undefined) return '';
  const n = (value: number) => value.toLocaleString('en-US');
  return (
    `[Showing characters ${n(slice.start + 1)}–${n(slice.end)} of ${n(slice.total)}. ` +
    `${n(slice.total - slice.end)} more: call again with cursor "${slice.nextCursor}"]`
  );
}

function findCut(text: string, start: number, limit: number, maxChars: number): number {
  const lowest = Math.max(start + 1, limit - Math.floor(maxChars * SEARCH_FRACTION));
  const rules = [endsBlankLine, (t: string, e: number) => t[e - 1] === '\n', endsSentence, endsWhitespace];
  for (const rule of rules) {
    for (let end = limit; end >= lowest; end--) if (rule(text, end)) return end;
  }
  if (!isHighSurrogate(text.charCodeAt(limit - 1)) || !isLowSurrogate(text.charCodeAt(limit))) return limit;
  // Step back before the pair; with a one-character window that would make no progress, so take the whole pair.
  return limit - 1 > start ? limit - 1 : limit + 1;
}

function endsBlankLine(text: string, end: number): boolean {
  if (text[end - 1] !== '\n') return false;
  let i = end - 2;
  while (i >= 0 && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r')) i--;
  return text[i] === '\n';
}

const SENTENCE_MARK = /[.!?…]["'”’)\]]?$/;
const CLOSED_SENTENCE_MARK = /[。！？]$/;

function endsSentence(text: string, end: number): boolean {
  const before = text.slice(Math.max(0, end - 3), end);
  if (CLOSED_SENTENCE_MARK.test(before)) return true;
  return (text[end - 1] === ' ' || text[end - 1] === '\t') && SENTENCE_MARK.test(before.slice(0, -1));
}

function endsWhitespace(text: string, end: number): boolean {
  return /\s/.test(text[end - 1] ?? '');
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

function fingerprint(text: string): string {
  return createHash('sha1').update(`${text.length}:`).update(text).digest('hex').slice(0, 8);
}

function encodeCursor(offset: number, text: string): string {
  return Buffer.from(`${offset}.${fingerprint(text)}`).toString('base64url');
}

function decodeCursor(cursor: string, text: string): number {
  const match = /^[A-Za-z0-9_-]+$/.test(cursor)
    ? /^(\d{1,15})\.([0-9a-f]{8})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
    : null;
  if (!match) {
    throw new FathomError('invalid_argument', `"${cursor.slice(0, 40)}" is not a cursor this tool gave out.`, {
      hint: `Pass back the cursor exactly as it was given, or omit it. ${RESTART_HINT}`,
    });
  }
  const offset = Number(match[1]);
  if (match[2] !== fingerprint(text)) {
    throw new FathomError('invalid_argument', 'This cursor belongs to other content: the text has changed since it was given out, or it came from another result.', {
      hint: RESTART_HINT,
    });
  }
  if (offset > text.length) {
    throw new FathomError('invalid_argument', `This cursor points past the end of the text (offset ${offset} of ${text.length}).`, {
      hint: RESTART_HINT,
    });
  }
  return offset;
}
