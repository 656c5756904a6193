/** One piece of a page, as ranked and shown. */
export interface Passage {
  /** The passage exactly as it stands in the page (headings excluded). */
  text: string;
  /** The headings above it, outermost first. */
  headings: string[];
  /** Character offset of `text` in the page. */
  offset: number;
  /** Position among the page's passages. */
  index: number;
}

export interface ScoredPassage extends Passage {
  score: number;
}

export interface BestPassage extends ScoredPassage {
  /** The heading path as one line, e.g. "History > Early years"; empty above the first heading. */
  heading: string;
}

export interface ChunkOptions {
  targetChars?: number;
}

export interface Bm25Options {
  k1?: number;
  b?: number;
}

const HEADING_SEPARATOR = ' > ';

// ── Tokenizer ──────────────────────────────────────────────────────────────

const STOP_WORDS = new Set(
  `a about above after again against all also am an and any are as at be because been before being below between both but by
  can could did do does doing down during each few for from further had has have having he her here hers herself him himself his
  how i if in into is it its itself just me more most my myself no nor not of off on once only or other our ours ourselves out over
  own same she should so some such than that the their theirs them themselves then there these they this those through to too under
  until up very was we were what when where which while who whom why will with would you your yours yourself yourselves s t d ll m
  re ve don doesn didn isn wasn aren weren won shall may might must`.split(/\s+/),
);

const SEPARATOR = 0;
const WORD = 1;
/** Scripts written without spaces between words: indexed as overlapping character pairs. */
const UNSPACED = 2;
type CharClass = typeof SEPARATOR | typeof WORD | typeof UNSPACED;

const ASCII_CLASS = new Uint8Array(128);
for (let code = 0; code < 128; code++) {
  const char = String.fromCharCode(code);
  ASCII_CLASS[code] = /[a-z0-9]/i.test(char) ? WORD : SEPARATOR;
}
const WORD_CHAR = /[\p{L}\p{M}\p{N}]/u;
const UNSPACED_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const classes = new Map<number, CharClass>();

function classOf(codePoint: number): CharClass {
  if (codePoint < 128) return ASCII_CLASS[codePoint] as CharClass;
  let found = classes.get(codePoint);
  if (found === undefined) {
    const char = String.fromCodePoint(codePoint);
    found = UNSPACED_CHAR.test(char) ? UNSPACED : WORD_CHAR.test(char) ? WORD : SEPARATOR;
    if (classes.size < 65_536) classes.set(codePoint, found);
  }
  return found;
}

const HAS_DIGIT = /\d/;
const UNDOUBLED = /([b-df-hj-kmnp-rtv-y])\1$/;

/** Light suffix stripping: enough that plurals and common verb forms meet. */
function stem(word: string): string {
  if (word.length <= 3 || HAS_DIGIT.test(word)) return word;
  let stemmed = word;
  if ((word.endsWith('ies') || word.endsWith('ied')) && word.length > 4) return word.slice(0, -3) + 'y';
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (word.endsWith('ing') && word.length > 5) stemmed = word.slice(0, -3);
  else if (word.endsWith('ed') && word.length > 4) stemmed = word.slice(0, -2);
  else if (/(?:ss|x|ch|sh|z)es$/.test(word)) return word.slice(0, -2);
  else if (word.endsWith('s') && !/(?:ss|us|is)$/.test(word)) return word.slice(0, -1);
  return stemmed !== word && stemmed.length >= 4 && UNDOUBLED.test(stemmed) ? stemmed.slice(0, -1) : stemmed;
}

/** Words already seen, to their term (null for a stop word). */
export type TermMemo = Map<string, string | null>;

const PLANE = 0x110000;

/** The key of a pair of unspaced characters, as forEachTerm's `pairs` holds it. */
function pairKey(first: number, second: number): number {
  return first * PLANE + second;
}

/**
 * Calls `visit` with each search term of `text`. With `pairs`, a character pair whose key is not
 * in it is visited as '' instead of as itself: counted, never built as a string.
 */
export function forEachTerm(text: string, visit: (term: string) => void, memo: TermMemo = new Map(), pairs?: Set<number>): void {
  const lower = text.toLowerCase();
  const word = (from: number, to: number) => {
    const raw = lower.slice(from, to);
    let term = memo.get(raw);
    if (term === undefined) {
      term = STOP_WORDS.has(raw) ? null : stem(raw);
      memo.set(raw, term);
    }
    if (term !== null) visit(term);
  };
  let wordStart = -1;
  let run = 0;
  let previousCode = 0;
  let previousStart = 0;
  const single = () => visit(lower.slice(previousStart, previousStart + (previousCode > 0xffff ? 2 : 1)));
  for (let i = 0; i < lower.length; i++) {
    let code = lower.charCodeAt(i);
    let width = 1;
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < lower.length) {
      code = lower.codePointAt(i)!;
      width = 2;
    }
    const kind = classOf(code);
    if (kind === WORD) {
      if (wordStart < 0) wordStart = i;
    } else if (wordStart >= 0) {
      word(wordStart, i);
      wordStart = -1;
    }
    if (kind === UNSPACED) {
      if (run > 0) visit(!pairs || pairs.has(pairKey(previousCode, code)) ? lower.slice(previousStart, i + width) : '');
      run++;
      previousCode = code;
      previousStart = i;
    } else {
      if (run === 1) single();
      run = 0;
    }
    i += width - 1;
  }
  if (run === 1) single();
  if (wordStart >= 0) word(wordStart, lower.length);
}

/** The pair keys among `terms`, for forEachTerm. */
function pairsOf(terms: readonly string[]): Set<number> {
  const keys = new Set<number>();
  for (const term of terms) {
    const chars = Array.from(term, (char) => char.codePointAt(0)!);
    if (chars.length === 2 && chars.every((code) => classOf(code) === UNSPACED)) keys.add(pairKey(chars[0]!, chars[1]!));
  }
  return keys;
}

/** Lower-case terms: Unicode letters and digits, stop words dropped, light suffix stripping. */
export function tokenize(text: string): string[] {
  const terms: string[] = [];
  forEachTerm(text, (term) => terms.push(term));
  return terms;
}

export function isStopWord(word: string): boolean {
  return STOP_WORDS.has(word.toLowerCase());
}

// ── Chunking ───────────────────────────────────────────────────────────────

interface Block {
  start: number;
  end: number;
  /** Set for headings. */
  level?: number;
  title?: string;
}

const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const SETEXT_UNDERLINE = /^ {0,3}(=+|-+)[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** Heading text without inline markup. */
function plainHeading(text: string): string {
  return text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[*_`~]+/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Paragraphs (fenced code kept whole) and headings, in order, as character ranges. */
function blocks(markdown: string): Block[] {
  const found: Block[] = [];
  let paragraph: { start: number; end: number; lines: number } | undefined;
  let fence: string | undefined;
  const closeParagraph = () => {
    if (paragraph) found.push({ start: paragraph.start, end: paragraph.end });
    paragraph = undefined;
  };
  let position = 0;
  while (position <= markdown.length) {
    let lineEnd = markdown.indexOf('\n', position);
    if (lineEnd < 0) lineEnd = markdown.length;
    const line = markdown.slice(position, lineEnd);
    const lineStart = position;
    position = lineEnd + 1;

    if (fence !== undefined) {
      paragraph!.end = lineEnd;
      if (line.trimStart().startsWith(fence)) {
        fence = undefined;
        closeParagraph();
      }
      continue;
    }
    const opening = FENCE.exec(line);
    if (opening) {
      closeParagraph();
      fence = opening[1]!;
      paragraph = { start: lineStart, end: lineEnd, lines: 1 };
      continue;
    }
    if (line.trim() === '') {
      closeParagraph();
      continue;
    }
    const atx = ATX_HEADING.exec(line);
    if (atx) {
      closeParagraph();
      found.push({ start: lineStart, end: lineEnd, level: atx[1]!.length, title: plainHeading(atx[2] ?? '') });
      continue;
    }
    const underline = SETEXT_UNDERLINE.exec(line);
    if (underline) {
      if (paragraph?.lines === 1) {
        const title = plainHeading(markdown.slice(paragraph.start, paragraph.end));
        found.push({ start: paragraph.start, end: lineEnd, level: underline[1]!.startsWith('=') ? 1 : 2, title });
        paragraph = undefined;
      } else {
        closeParagraph();
      }
      continue;
    }
    if (paragraph) {
      paragraph.end = lineEnd;
      paragraph.lines++;
    } else {
      paragraph = { start: lineStart, end: lineEnd, lines: 1 };
    }
  }
  closeParagraph();
  return found;
}

function isSpace(code: number): boolean {
  return code === 32 || code === 10 || code === 9 || code === 13 || code === 12 || code === 0xa0 || code === 0x3000;
}

function isSentenceEnd(code: number): boolean {
  return code === 46 || code === 33 || code === 63 || code === 0x3002 || code === 0xff01 || code === 0xff1f;
}

/**
 * Where to end a piece that starts at `from` and may reach `limit`: after a sentence in its
 * second half if there is one, else at the last space; a run with no space at all is cut where a
 * word would be cut anyway (never inside a surrogate pair).
 */
function cutPoint(text: string, from: number, limit: number): number {
  const floor = from + Math.floor((limit - from) / 2);
  let lastSpace = -1;
  for (let i = limit; i > from; i--) {
    if (!isSpace(text.charCodeAt(i))) continue;
    if (lastSpace < 0) lastSpace = i;
    if (i >= floor && isSentenceEnd(text.charCodeAt(i - 1))) return i;
    if (i < floor && lastSpace >= 0) break;
  }
  if (lastSpace > from) return lastSpace;
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}

/**
 * Splits a page into passages of about `targetChars`: a heading always starts a new passage,
 * paragraphs are kept together while they fit, and an overlong paragraph is cut between
 * sentences or words. Linear in the page size.
 */
export function chunk(markdown: string, options: ChunkOptions = {}): Passage[] {
  const target = Math.max(50, options.targetChars ?? 800);
  const passages: Passage[] = [];
  const stack: Array<{ level: number; title: string }> = [];
  let headings: string[] = [];

  const emit = (start: number, end: number) => {
    while (start < end && isSpace(markdown.charCodeAt(start))) start++;
    while (end > start && isSpace(markdown.charCodeAt(end - 1))) end--;
    if (end > start) passages.push({ text: markdown.slice(start, end), headings, offset: start, index: passages.length });
  };
  const emitLong = (start: number, end: number) => {
    while (end - start > target) {
      const cut = cutPoint(markdown, start, start + target);
      emit(start, cut);
      start = cut;
    }
    emit(start, end);
  };

  let open: { start: number; end: number } | undefined;
  const flush = () => {
    if (open) emitLong(open.start, open.end);
    open = undefined;
  };
  for (const block of blocks(markdown)) {
    if (block.level !== undefined) {
      flush();
      while (stack.length && stack[stack.length - 1]!.level >= block.level) stack.pop();
      if (block.title) stack.push({ level: block.level, title: block.title });
      headings = stack.map((entry) => entry.title);
      continue;
    }
    if (open && block.end - open.start > target) flush();
    if (open) open.end = block.end;
    else open = { start: block.start, end: block.end };
  }
  flush();
  return passages;
}

// ── Ranking ────────────────────────────────────────────────────────────────

/** Okapi BM25 of each passage (its headings count as part of it) for the question; best first. */
export function rankPassages(passages: readonly Passage[], question: string, options: Bm25Options = {}): ScoredPassage[] {
  const k1 = options.k1 ?? 1.2;
  const b = options.b ?? 0.75;
  const terms = [...new Set(tokenize(question))];
  const scored = passages.map((passage) => ({ ...passage, score: 0 }));
  if (terms.length === 0 || passages.length === 0) return scored;

  const slot = new Map(terms.map((term, i) => [term, i]));
  const width = terms.length;
  const counts = new Uint32Array(passages.length * width);
  const lengths = new Uint32Array(passages.length);
  const memo: TermMemo = new Map();
  const pairs = pairsOf(terms);
  let current = 0;
  const count = (term: string) => {
    lengths[current]!++;
    const i = slot.get(term);
    if (i !== undefined) counts[current * width + i]!++;
  };
  passages.forEach((passage, p) => {
    current = p;
    if (passage.headings.length) forEachTerm(passage.headings.join(' '), count, memo, pairs);
    forEachTerm(passage.text, count, memo, pairs);
  });

  const total = passages.length;
  const averageLength = Math.max(1, lengths.reduce((sum, length) => sum + length, 0) / total);
  const idf = terms.map((_, i) => {
    let df = 0;
    for (let p = 0; p < total; p++) if (counts[p * width + i]! > 0) df++;
    return Math.log(1 + (total - df + 0.5) / (df + 0.5));
  });
  scored.forEach((passage, p) => {
    const norm = k1 * (1 - b + (b * lengths[p]!) / averageLength);
    let score = 0;
    for (let i = 0; i < width; i++) {
      const tf = counts[p * width + i]!;
      if (tf > 0) score += (idf[i]! * tf * (k1 + 1)) / (tf + norm);
    }
    passage.score = score;
  });
  return scored.sort((x, y) => y.score - x.score || x.offset - y.offset);
}

/** What a passage costs against a character budget: its text and its heading line. */
export function passageCost(passage: { text: string; heading: string }): number {
  return passage.text.length + (passage.heading ? passage.heading.length + 6 : 0) + 2;
}

function trimToWord(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return text.slice(0, cutPoint(text, 0, Math.max(1, maxChars - 1))).trimEnd() + '…';
}

/**
 * The passages that best answer `question` and fit together in `maxChars` (see passageCost), in
 * document order. When no passage shares a term with the question, the page's opening passages.
 */
export function bestPassages(markdown: string, question: string, maxChars: number): BestPassage[] {
  const ranked = rankPassages(chunk(markdown), question);
  const matching = ranked.filter((passage) => passage.score > 0);
  const candidates = matching.length ? matching : ranked.sort((x, y) => x.offset - y.offset);
  const chosen: BestPassage[] = [];
  let used = 0;
  for (const passage of candidates) {
    const best = { ...passage, heading: passage.headings.join(HEADING_SEPARATOR) };
    const cost = passageCost(best);
    if (used + cost > maxChars) {
      if (chosen.length === 0) {
        const room = maxChars - (passageCost(best) - best.text.length);
        if (room > 0) chosen.push({ ...best, text: trimToWord(best.text, room) });
        break;
      }
      continue;
    }
    chosen.push(best);
    used += cost;
    if (maxChars - used < 40) break;
  }
  return chosen.sort((x, y) => x.offset - y.offset);
}
