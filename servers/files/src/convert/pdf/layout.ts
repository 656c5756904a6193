import type { PdfFragment, PdfPageText, PdfRow, Run } from './types.js';

// Layout thresholds. Distances are in font sizes of the text at hand unless they say points.

/** Baselines closer than this belong to one line (sub- and superscripts sit about a third off). */
const SAME_LINE = 0.5;
/** The same text drawn again within this many points is an overdraw that fakes bold, not more text. */
const OVERDRAW_POINTS = 1;
/** Gap that splits a line into fragments (table cells, columns): wider than any word space. */
const FRAGMENT_GAP = 0.8;
/** Gap above which two pieces of a word run get a space: kerning stays under it. */
const SPACE_GAP = 0.15;
/** Lines at the top and at the bottom of a page where page numbers and running heads stand. */
const EDGE_LINES = 2;
/** Fewest pages a running line recurs on (and fewest pages with text for running lines to be judged at all). */
const MIN_RUNNING_PAGES = 3;
/** A repeat set larger than this times its smallest copy is a title (page 1's), not a running head. */
const RUNNING_REPEAT_SIZE = 1.25;
/** Points of height that count as one spot on the page, so a running head may shift a little. */
const SLOT_POINTS = 2;
/** Fewest repeats of a text in a running-head spot that holds changing texts (chapter titles). */
const MIN_SLOT_REPEATS = 2;
/** A spot holds running heads when it shows at most one distinct text per this many pages. */
const SLOT_PAGES_PER_TEXT = 3;
/** Running heads in a changing spot are set no larger than this times the body text. */
const RUNNING_SLOT_SIZE = 1.05;
/** Fewest lines of a text column, and fewest gaps lined up to make a gutter between columns. */
const MIN_COLUMN_ROWS = 5;
/** A column's line is full when it spans this share of the column's width. */
const COLUMN_FULL_WIDTH = 0.75;
/** Share of a column's lines that are full: prose, not a list or a table. */
const COLUMN_FULL_SHARE = 0.6;
/** Fewest characters a column's lines average: prose, not labels. */
const COLUMN_LINE_CHARS = 25;
/** Fewest rows, header included, that make a table. */
const MIN_TABLE_ROWS = 3;
/** Rows further apart than this end a table: the next block has begun. */
const TABLE_ROW_GAP = 3;
/** Columns closer than this run into each other: the rows are text, not cells. */
const COLUMN_SEPARATION = 0.5;
/** Most characters a table's cells average: longer ones are prose set side by side. */
const MAX_CELL_CHARS = 40;

/** Runs to lines: close baselines make one line, read left to right, split at wide gaps. */
export function buildRows(runs: Run[]): PdfRow[] {
  runs.sort((p, q) => p.y - q.y);
  const rows: PdfRow[] = [];
  let start = 0;
  while (start < runs.length) {
    const first = runs[start]!;
    let size = first.size;
    let end = start + 1;
    for (; end < runs.length; end++) {
      const run = runs[end]!;
      if (run.y - first.y > SAME_LINE * Math.max(size, run.size)) break;
      size = Math.max(size, run.size);
    }
    const line = runs.slice(start, end).sort((p, q) => p.x - q.x);
    const baseline = line.reduce((best, run) => (run.size > best.size ? run : best)).y;
    rows.push({ y: baseline, size, fragments: fragmentsOf(line) });
    start = end;
  }
  return rows.sort((p, q) => p.y - q.y);
}

/** One line's runs, left to right, joined into fragments at the wide gaps. */
function fragmentsOf(line: Run[]): PdfFragment[] {
  const fragments: PdfFragment[] = [];
  let previous: Run | undefined;
  for (const run of line) {
    const current = fragments.at(-1);
    if (!previous || !current) {
      fragments.push({ x: run.x, end: run.end, text: run.text.trim() });
    } else if (run.text === previous.text && Math.abs(run.x - previous.x) < OVERDRAW_POINTS) {
      continue; // the same text drawn twice to look bold
    } else if (run.x - previous.end > FRAGMENT_GAP * run.size) {
      fragments.push({ x: run.x, end: run.end, text: run.text.trim() });
    } else {
      const spaced = isSpace(previous.text.at(-1)) || isSpace(run.text[0]) || run.x - previous.end > SPACE_GAP * run.size;
      current.text += (spaced ? ' ' : '') + run.text.trim();
      current.end = Math.max(current.end, run.end);
    }
    previous = run;
  }
  for (const fragment of fragments) {
    if (LOOSE_SPACE.test(fragment.text)) fragment.text = fragment.text.replace(/\s+/g, ' ');
    if (fragment.text.includes('c')) fragment.text = texCopyright(fragment.text);
  }
  return fragments;
}

/**
 * TeX (and so texinfo, which most GNU manuals use) draws © as a "c" set inside a circle from a
 * symbol font that names no characters (CMSY's "circlecopyrt"). pdf.js reads the pair as "©c";
 * poppler, which has no character for that glyph, keeps only the "c": "Copyright c 2001".
 */
function texCopyright(text: string): string {
  return text.replace(/©\s?c(?!\p{L})/gu, '©').replace(/\b(copyright) c(?= ?\d{4}\b)/giu, '$1 ©');
}

const isSpace = (character: string | undefined) => character !== undefined && /\s/.test(character);
/** Whitespace that is more than one plain space. */
const LOOSE_SPACE = /\s\s|[^\S ]/;

export const rowText = (row: PdfRow) => (row.fragments.length === 1 ? row.fragments[0]!.text : row.fragments.map((fragment) => fragment.text).join(' '));

/**
 * Removes page numbers and running titles from the top and bottom two lines of each page: lines
 * repeated (digits aside) on most pages, and lines in a spot that most pages fill with one of a
 * few texts (chapter titles, alternating heads) no larger than body text. A repeat set much
 * larger than elsewhere, like the title on page 1, stays.
 */
export function dropRunningLines(pages: PdfPageText[]): void {
  const withText = pages.filter((page) => page.rows.length > 0);
  if (withText.length < MIN_RUNNING_PAGES) return;
  const text = (row: PdfRow) => rowText(row).toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ');
  const texts = new Map<string, { pages: number; size: number }>();
  const slots = new Map<string, { pages: number; texts: Set<string> }>();
  const edges = (page: PdfPageText) => [
    ...page.rows.slice(0, EDGE_LINES).map((row) => ({ row, zone: 'top' })),
    ...page.rows.slice(-EDGE_LINES).map((row) => ({ row, zone: 'bottom' })),
  ];
  const keys = (row: PdfRow, zone: string) => ({
    text: `${zone}:${text(row)}`,
    slot: `${zone}:${Math.round(row.y / SLOT_POINTS)}:${Math.round(row.size)}`,
  });
  for (const page of withText) {
    const seen = new Set<string>();
    for (const { row, zone } of edges(page)) {
      const key = keys(row, zone);
      if (seen.has(key.text)) continue;
      seen.add(key.text);
      const entry = texts.get(key.text) ?? { pages: 0, size: row.size };
      texts.set(key.text, { pages: entry.pages + 1, size: Math.min(entry.size, row.size) });
      const slot = slots.get(key.slot) ?? { pages: 0, texts: new Set<string>() };
      slots.set(key.slot, { pages: slot.pages + 1, texts: slot.texts.add(key.text) });
    }
  }
  const bodySize = medianSize(withText);
  const needed = Math.max(MIN_RUNNING_PAGES, Math.ceil(withText.length / 2));
  const running = (zone: string, row: PdfRow | undefined) => {
    if (!row) return false;
    const key = keys(row, zone);
    const repeat = texts.get(key.text)!;
    const slot = slots.get(key.slot)!;
    if (repeat.pages >= needed && row.size <= RUNNING_REPEAT_SIZE * repeat.size) return true;
    return repeat.pages >= MIN_SLOT_REPEATS && slot.pages >= needed && slot.texts.size <= slot.pages / SLOT_PAGES_PER_TEXT && row.size <= RUNNING_SLOT_SIZE * bodySize;
  };
  for (const page of withText) {
    // Peeled from the edges inwards, so no body line between two kept ones is taken.
    let start = 0;
    let end = page.rows.length;
    while (start < EDGE_LINES && running('top', page.rows[start])) start++;
    while (end > start && page.rows.length - end < EDGE_LINES && running('bottom', page.rows[end - 1])) end--;
    page.rows = page.rows.slice(start, end);
  }
}

/** The font size most of the text is set in. */
function medianSize(pages: PdfPageText[]): number {
  const counts = new Map<number, number>();
  let total = 0;
  for (const page of pages) {
    for (const row of page.rows) counts.set(row.size, (counts.get(row.size) ?? 0) + 1);
    total += page.rows.length;
  }
  let seen = 0;
  for (const [size, count] of [...counts].sort((p, q) => p[0] - q[0])) {
    seen += count;
    if (seen > Math.floor(total / 2)) return size;
  }
  return 0;
}

/** Rows in reading order: side-by-side text columns are read one after the other. */
export function readingOrder(rows: PdfRow[]): PdfRow[] {
  const gutter = findGutter(rows);
  if (!gutter) return rows;
  const middle = (gutter.start + gutter.end) / 2;
  const crosses = (row: PdfRow) => row.fragments.some((f) => f.x < middle && f.end > middle);
  const ordered: PdfRow[] = [];
  let i = 0;
  while (i < rows.length) {
    let j = i;
    while (j < rows.length && !crosses(rows[j]!)) j++;
    const run = rows.slice(i, j);
    const sides = splitAt(run, middle);
    if (run.length >= MIN_COLUMN_ROWS && isColumn(sides.left) && isColumn(sides.right)) {
      ordered.push(...readingOrder(sides.left), ...readingOrder(sides.right));
    } else {
      ordered.push(...run);
    }
    if (j < rows.length) ordered.push(rows[j]!);
    i = j + 1;
  }
  return ordered;
}

/** The free vertical band that the most lines have a wide gap across, if any. */
function findGutter(rows: PdfRow[]): { start: number; end: number } | undefined {
  const gaps: { start: number; end: number }[] = [];
  for (const row of rows) {
    for (let k = 1; k < row.fragments.length; k++) gaps.push({ start: row.fragments[k - 1]!.end, end: row.fragments[k]!.x });
  }
  if (gaps.length < MIN_COLUMN_ROWS) return undefined;
  let best: { start: number; end: number; count: number } | undefined;
  for (const candidate of gaps) {
    const x = (candidate.start + candidate.end) / 2;
    let count = 0;
    let start = -Infinity;
    let end = Infinity;
    for (const gap of gaps) {
      if (gap.start <= x && gap.end >= x) {
        count++;
        start = Math.max(start, gap.start);
        end = Math.min(end, gap.end);
      }
    }
    if (count >= MIN_COLUMN_ROWS && (!best || count > best.count)) best = { start, end, count };
  }
  return best;
}

function splitAt(rows: PdfRow[], x: number): { left: PdfRow[]; right: PdfRow[] } {
  const left: PdfRow[] = [];
  const right: PdfRow[] = [];
  for (const row of rows) {
    const l = row.fragments.filter((f) => f.end <= x);
    const r = row.fragments.filter((f) => f.end > x);
    if (l.length) left.push({ ...row, fragments: l });
    if (r.length) right.push({ ...row, fragments: r });
  }
  return { left, right };
}

/** Prose set in a column: long lines that mostly fill the column's width. */
function isColumn(rows: PdfRow[]): boolean {
  if (rows.length < MIN_COLUMN_ROWS) return false;
  const start = Math.min(...rows.map((row) => row.fragments[0]!.x));
  const end = Math.max(...rows.map((row) => row.fragments.at(-1)!.end));
  const full = rows.filter((row) => row.fragments.at(-1)!.end - row.fragments[0]!.x >= COLUMN_FULL_WIDTH * (end - start)).length;
  const characters = rows.reduce((sum, row) => sum + rowText(row).length, 0);
  return characters / rows.length >= COLUMN_LINE_CHARS && full >= COLUMN_FULL_SHARE * rows.length;
}

/**
 * Where a table starting at `rows[start]` ends: consecutive rows with the same number of fragments,
 * each under the one before in its column, and no column reaching into the next.
 */
export function tableAt(rows: PdfRow[], start: number): number {
  const head = rows[start]!;
  const n = head.fragments.length;
  if (n < 2) return start;
  const columns = head.fragments.map((f) => ({ x: f.x, end: f.end }));
  let end = start + 1;
  for (; end < rows.length; end++) {
    const row = rows[end]!;
    if (row.fragments.length !== n || row.y - rows[end - 1]!.y > TABLE_ROW_GAP * Math.max(row.size, head.size)) break;
    const aligned = row.fragments.every((f, k) => f.x < columns[k]!.end && f.end > columns[k]!.x);
    const merged = columns.map((column, k) => ({ x: Math.min(column.x, row.fragments[k]!.x), end: Math.max(column.end, row.fragments[k]!.end) }));
    if (!aligned || merged.some((column, k) => k > 0 && column.x <= merged[k - 1]!.end + COLUMN_SEPARATION * head.size)) break;
    columns.splice(0, n, ...merged);
  }
  if (end - start < MIN_TABLE_ROWS) return start;
  const cells = rows.slice(start, end).flatMap((row) => row.fragments);
  const average = cells.reduce((sum, f) => sum + f.text.length, 0) / cells.length;
  return average <= MAX_CELL_CHARS ? end : start;
}
