import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FathomError } from '@fathom/core';
import type * as PdfJsModule from 'pdfjs-dist/legacy/build/pdf.mjs';
import { gfmTable, tidy } from './markdown.js';
import { popplerPath, runPoppler } from './pdftotext.js';
import type { ConvertedDocument, ConvertInput, ConvertOptions, Converter, DocumentInfo, Section, Table } from './types.js';

type PdfJs = typeof PdfJsModule;
type PdfDocument = Awaited<ReturnType<PdfJs['getDocument']>['promise']>;
type TextItem = Extract<Awaited<ReturnType<Awaited<ReturnType<PdfDocument['getPage']>>['getTextContent']>>['items'][number], { str: string }>;

/** A stretch of text on one line with no wide gap inside: a cell, a column's line, a phrase. */
export interface PdfFragment {
  x: number;
  end: number;
  text: string;
}

/** One visual line, y growing downwards from the page top, in PDF points. */
export interface PdfRow {
  y: number;
  size: number;
  fragments: PdfFragment[];
}

export interface PdfPageText {
  page: number;
  /** Horizontal text, top to bottom. */
  rows: PdfRow[];
  /** Text set across the page's reading direction (margin stamps, axis labels), in content order. */
  aside: string[];
  error?: string;
}

/** What one pass over a page range yields; plain data, so a worker thread can post it back. */
export interface PdfExtract {
  info: DocumentInfo;
  pageCount: number;
  pages: PdfPageText[];
  /** Which reader gave the page text: poppler (pages it cannot place read by pdf.js), or pdf.js. */
  engine: PdfEngine;
}

export type PdfEngine = 'poppler' | 'pdfjs';

export interface PdfExtractOptions {
  /**
   * 'auto' (the default): poppler (`pdftohtml -xml`, from poppler-utils, like pdftotext) when it
   * is installed and FATHOM_PDFTOTEXT is not 'off', else pdf.js, which also takes over when
   * poppler fails on a file; 'pdfjs': pdf.js only.
   */
  engine?: 'auto' | 'pdfjs';
  /** Most poppler processes that read parts of the page range side by side; default: the CPUs. */
  processes?: number;
}

const SCANNED_NOTE = 'This PDF has no text layer (it is scanned images); its text cannot be read without OCR.';
const CORRUPT_HINT = 'The file may be truncated or damaged; download it again or ask for a fresh copy.';
/** Gap, in font sizes, that splits a line into fragments (table cells, columns). */
const FRAGMENT_GAP = 0.8;
/** Gap, in font sizes, above which two pieces of a word run get a space. */
const SPACE_GAP = 0.15;
const MIN_COLUMN_ROWS = 5;
const MIN_TABLE_ROWS = 3;
/** Fewest pages worth a poppler process of their own (each one starts and parses the file again). */
const PAGES_PER_PROCESS = 6;

interface PdfJsLoaded {
  pdfjs: PdfJs;
  /** Folder of pdf.js's character maps and standard fonts. */
  assets: string;
}

let pdfjsLoading: Promise<PdfJsLoaded> | undefined;

/** pdf.js as pdf-parse ships it, with its worker code loaded into this thread. */
function loadPdfJs(): Promise<PdfJsLoaded> {
  pdfjsLoading ??= (async () => {
    const require = createRequire(import.meta.url);
    const root = dirname(createRequire(require.resolve('pdf-parse')).resolve('pdfjs-dist/package.json'));
    const url = (path: string) => pathToFileURL(join(root, path)).href;
    // pdf.js's core-js polyfills replace Array.prototype.push with a slower JS copy for the whole
    // process; it costs about a fifth of the extraction time, so the native one is put back.
    const push = Array.prototype.push;
    try {
      const pdfjs = (await import(url('legacy/build/pdf.mjs'))) as PdfJs;
      // Registers globalThis.pdfjsWorker, which pdf.js then runs in this thread.
      await import(url('legacy/build/pdf.worker.mjs'));
      return { pdfjs, assets: root };
    } finally {
      Array.prototype.push = push;
    }
  })();
  return pdfjsLoading;
}

/**
 * Reads the text of pages `firstPage`..`lastPage` (1-based, clamped). Several calls on page ranges
 * of one file can run in worker threads; `assemblePdf` joins their results. pdf.js opens the file
 * (errors, page count, metadata, outline); the page text comes from poppler when it is there,
 * several times faster than pdf.js's `getTextContent`, else from pdf.js.
 */
export async function extractPdf(bytes: Uint8Array, firstPage = 1, lastPage = Infinity, options: PdfExtractOptions = {}): Promise<PdfExtract> {
  const { pdfjs, assets } = await loadPdfJs();
  const task = pdfjs.getDocument({
    // pdf.js takes ownership of (detaches) the buffer it is given: hand it a copy.
    data: new Uint8Array(bytes),
    disableFontFace: true,
    useSystemFonts: false,
    isEvalSupported: false,
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
    verbosity: 0,
    cMapUrl: join(assets, 'cmaps/'),
    cMapPacked: true,
    standardFontDataUrl: join(assets, 'standard_fonts/'),
  });
  const stop = new AbortController();
  let reading: Promise<(PdfPageText | undefined)[] | undefined> | undefined;
  try {
    const doc = await task.promise.catch((error: unknown) => {
      throw pdfError(error, bytes);
    });
    const pageCount = doc.numPages;
    const first = Math.max(1, firstPage);
    const last = Math.min(lastPage, pageCount);
    // Poppler starts first: pdf.js's metadata work runs on this thread while its processes run.
    // Any failure of poppler (a file it cannot read, a timeout, a cap) leaves the pages to pdf.js.
    if (options.engine !== 'pdfjs' && first <= last && popplerPath('pdftohtml') !== undefined) {
      reading = popplerPages(bytes, first, last, options.processes, stop.signal).catch(() => undefined);
    }
    const info = await documentInfo(pdfjs, doc);
    const read = await reading;
    const pages: PdfPageText[] = [];
    for (let n = first; n <= last; n++) {
      const page = read?.[n - first];
      if (page) {
        pages.push(page);
        continue;
      }
      try {
        pages.push(await pageText(doc, n));
      } catch (error) {
        if (n === 1 && pageCount === 1) throw pdfError(error, bytes);
        pages.push({ page: n, rows: [], aside: [], error: error instanceof Error ? error.message : String(error) });
      }
    }
    return { info, pageCount, pages, engine: read ? 'poppler' : 'pdfjs' };
  } finally {
    // After a failure poppler is stopped and waited for: no process or temporary file stays.
    stop.abort();
    await reading;
    await task.destroy();
  }
}

/** pdftohtml's coordinates are in pixels at this zoom: font sizes come rounded to whole pixels. */
const XML_ZOOM = 2;
/** A typical font's descent below the baseline, in font sizes. */
const DESCENT = 0.21;

/**
 * Pages `first`..`last` from `pdftohtml -xml`: each line of text with its box and font size, the
 * same runs pdf.js gives, so the layout steps stay the same; it runs as fast as `pdftotext`
 * (`-layout` keeps no font sizes and counts columns in characters; `-bbox-layout` and `-tsv`
 * cost about 1.7 times as much). The range is shared among a few processes. A page left
 * undefined holds text poppler cannot place (set at an angle): pdf.js reads it.
 */
async function popplerPages(bytes: Uint8Array, first: number, last: number, processes: number | undefined, signal: AbortSignal): Promise<(PdfPageText | undefined)[]> {
  const most = processes === undefined ? availableParallelism() : Number.isFinite(processes) ? Math.max(1, Math.floor(processes)) : 1;
  const pages: (PdfPageText | undefined)[] = [];
  // pdftohtml seeks in its input, so it reads a file, not a pipe. On Linux the file is deleted as
  // soon as it is open, and each process reads it as its stdin (/dev/stdin opens it anew, with an
  // offset of its own): nothing stays on disk even if this thread is stopped midway.
  const dir = mkdtempSync(join(tmpdir(), 'fathom-pdf-'));
  const file = join(dir, 'input.pdf');
  let fd: number | undefined;
  try {
    writeFileSync(file, bytes, { mode: 0o600 });
    if (process.platform === 'linux') {
      fd = openSync(file, 'r');
      rmSync(dir, { recursive: true, force: true });
    }
    await inParallel(pageRanges(first, last, most), most, signal, (range, stop) => {
      const fonts = new Map<number, number>();
      return runPoppler({
        tool: 'pdftohtml',
        args: ['-xml', '-i', '-hidden', '-nodrm', '-nomerge', '-stdout', '-zoom', String(XML_ZOOM), fd === undefined ? file : '/dev/stdin'],
        ...(fd === undefined ? {} : { stdin: fd }),
        pageEnd: '</page>',
        first: range[0],
        last: range[1],
        onPage: (page, xml) => {
          pages[page - first] = xmlPage(page, xml, fonts);
        },
        signal: stop,
      });
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return pages;
}

/**
 * Pages `first`..`last` in ranges for `processes`: equal ones; with many pages, larger ones first
 * and smaller ones last, so that a process that drew slow pages (a long table of contents, dense
 * figures) is not left working alone at the end. A range has at least a few pages: each process
 * starts up and parses the file again.
 */
function pageRanges(first: number, last: number, processes: number): [number, number][] {
  const count = last - first + 1;
  const parts = Math.max(1, Math.min(processes, Math.floor(count / PAGES_PER_PROCESS)));
  const fractions = count >= 4 * parts * PAGES_PER_PROCESS ? [...Array<number>(parts).fill(0.7 / parts), ...Array<number>(parts).fill(0.3 / parts)] : Array<number>(parts).fill(1 / parts);
  const ranges: [number, number][] = [];
  let from = first;
  let share = 0;
  for (const [k, fraction] of fractions.entries()) {
    share += fraction;
    const to = k === fractions.length - 1 ? last : Math.max(from, first + Math.round(share * count) - 1);
    ranges.push([from, to]);
    from = to + 1;
  }
  return ranges;
}

/**
 * Runs `read` on each range, at most `processes` at a time, in order. One failure (or `signal`)
 * stops the others; when this settles, every read has ended.
 */
async function inParallel(
  ranges: [number, number][],
  processes: number,
  signal: AbortSignal,
  read: (range: [number, number], stop: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const quit = () => stop.abort();
  signal.addEventListener('abort', quit, { once: true });
  const queue = [...ranges];
  const work = async () => {
    for (let range = queue.shift(); range && !stop.signal.aborted; range = queue.shift()) await read(range, stop.signal);
  };
  const outcomes = await Promise.allSettled(
    Array.from({ length: Math.min(processes, ranges.length) }, () =>
      work().catch((error: unknown) => {
        stop.abort();
        throw error;
      }),
    ),
  );
  signal.removeEventListener('abort', quit);
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00A0' };

function xmlText(inner: string): string {
  let text = inner.includes('<') ? inner.replace(/<[^>]*>/g, '') : inner;
  if (text.includes('&')) {
    text = text.replace(/&(#x[\da-f]+|#\d+|[a-z]+);/gi, (entity: string, name: string) => {
      if (name[0] !== '#') return ENTITIES[name] ?? entity;
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
    });
  }
  return text;
}

/**
 * Reads pdftohtml's XML with a cursor rather than regular expressions: a long document has tens
 * of thousands of lines. The attributes come in the order poppler writes them.
 */
class XmlCursor {
  at = 0;
  constructor(readonly xml: string) {}

  /** Moves past `text`, which must come next. */
  expect(text: string): void {
    if (!this.xml.startsWith(text, this.at)) throw new Error(`pdftohtml's XML: expected ${text} at ${this.at}`);
    this.at += text.length;
  }

  /** A number (sign, digits, decimal point). */
  number(): number {
    const { xml } = this;
    let i = this.at;
    const negative = xml.charCodeAt(i) === 45;
    if (negative) i++;
    let value = 0;
    let scale = 0;
    for (; ; i++) {
      const c = xml.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        value = value * 10 + c - 48;
        if (scale) scale *= 10;
      } else if (c === 46 && !scale) scale = 1;
      else break;
    }
    if (i === this.at + (negative ? 1 : 0)) throw new Error(`pdftohtml's XML: expected a number at ${this.at}`);
    this.at = i;
    const magnitude = scale ? value / scale : value;
    return negative ? -magnitude : magnitude;
  }

  /** Text up to `end`, then past it. */
  upTo(end: string): string {
    const stop = this.xml.indexOf(end, this.at);
    if (stop === -1) throw new Error(`pdftohtml's XML: no ${end} after ${this.at}`);
    const text = this.xml.slice(this.at, stop);
    this.at = stop + end.length;
    return text;
  }

  /** Moves to the next `text` and past it; false when there is none. */
  next(text: string): boolean {
    const found = this.xml.indexOf(text, this.at);
    if (found === -1) return false;
    this.at = found + text.length;
    return true;
  }
}

/**
 * One page of pdftohtml's XML as rows, or undefined when it holds text set at an angle, which
 * comes out in broken pieces with no width (a lone character with no width is an overlay, like
 * the stroke of ≠). `fonts` (id to size) carries over between pages.
 */
function xmlPage(page: number, xml: string, fonts: Map<number, number>): PdfPageText | undefined {
  const cursor = new XmlCursor(xml);
  while (cursor.next('<fontspec id="')) {
    const id = cursor.number();
    cursor.expect('" size="');
    fonts.set(id, cursor.number() / XML_ZOOM);
  }
  cursor.at = 0;
  const runs: Run[] = [];
  let widthless = 0;
  while (cursor.next('<text top="')) {
    const top = cursor.number();
    cursor.expect('" left="');
    const left = cursor.number();
    cursor.expect('" width="');
    const width = cursor.number();
    cursor.expect('" height="');
    const height = cursor.number();
    cursor.expect('" font="');
    const font = cursor.number();
    cursor.expect('">');
    const text = xmlText(cursor.upTo('</text>'));
    if (text.trim() === '') continue;
    if (width <= 0 && (text.trim().length > 1 || ++widthless > 2)) return undefined;
    const x = left / XML_ZOOM;
    const h = height / XML_ZOOM;
    const size = fonts.get(font) || h;
    // The box runs from the font's ascent to its descent; descents vary less than ascents.
    runs.push({ x, end: x + width / XML_ZOOM, y: (top + height) / XML_ZOOM - DESCENT * size, size, text });
  }
  return { page, rows: buildRows(runs), aside: [] };
}

/** Turns page coordinates (y down) so that text set in quarter-turn `k` reads left to right. */
const TURNS: ((x: number, y: number) => [number, number])[] = [(x, y) => [x, y], (x, y) => [y, -x], (x, y) => [-x, -y], (x, y) => [-y, x]];

async function pageText(doc: PdfDocument, n: number): Promise<PdfPageText> {
  const page = await doc.getPage(n);
  const [va, vb, vc, vd, ve, vf] = page.getViewport({ scale: 1 }).transform as number[] as [number, number, number, number, number, number];
  const content = await page.getTextContent();
  // Items with their quarter turn on the page; pages set sideways are read in their own direction.
  const items: { item: TextItem; turn: number }[] = [];
  const weights = [0, 0, 0, 0];
  for (const item of content.items) {
    if (!('str' in item) || item.str.trim() === '') continue;
    const [ta, tb] = item.transform as [number, number];
    const angle = Math.atan2(vb * ta + vd * tb, va * ta + vc * tb) / (Math.PI / 2);
    const turn = Math.round(angle);
    const straight = Math.abs(angle - turn) < 0.02;
    items.push({ item, turn: straight ? (turn + 4) % 4 : -1 });
    if (straight) weights[(turn + 4) % 4]! += item.str.length;
  }
  const main = weights.indexOf(Math.max(...weights));
  const turned = TURNS[main]!;
  const runs: Run[] = [];
  const aside: string[] = [];
  for (const { item, turn } of items) {
    if (turn !== main) {
      aside.push(item.str.trim());
      continue;
    }
    const [, , tc, td, te, tf] = item.transform as number[] as [number, number, number, number, number, number];
    const [x, y] = turned(va * te + vc * tf + ve, vb * te + vd * tf + vf);
    const size = Math.hypot(va * tc + vc * td, vb * tc + vd * td) || item.height;
    runs.push({ x, end: x + item.width, y, size, text: item.str });
  }
  return { page: n, rows: buildRows(runs), aside };
}

interface Run {
  x: number;
  end: number;
  y: number;
  size: number;
  text: string;
}

/** Runs to lines: close baselines make one line, read left to right, split at wide gaps. */
function buildRows(runs: Run[]): PdfRow[] {
  runs.sort((p, q) => p.y - q.y);
  const rows: PdfRow[] = [];
  let start = 0;
  while (start < runs.length) {
    const first = runs[start]!;
    let size = first.size;
    let end = start + 1;
    for (; end < runs.length; end++) {
      const run = runs[end]!;
      if (run.y - first.y > 0.5 * Math.max(size, run.size)) break;
      size = Math.max(size, run.size);
    }
    const line = runs.slice(start, end).sort((p, q) => p.x - q.x);
    const baseline = line.reduce((best, run) => (run.size > best.size ? run : best)).y;
    rows.push({ y: baseline, size, fragments: fragmentsOf(line) });
    start = end;
  }
  return rows.sort((p, q) => p.y - q.y);
}

function fragmentsOf(line: Run[]): PdfFragment[] {
  const fragments: PdfFragment[] = [];
  let previous: Run | undefined;
  for (const run of line) {
    const current = fragments.at(-1);
    if (!previous || !current) {
      fragments.push({ x: run.x, end: run.end, text: run.text.trim() });
    } else if (run.text === previous.text && Math.abs(run.x - previous.x) < 1) {
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

async function documentInfo(pdfjs: PdfJs, doc: PdfDocument): Promise<DocumentInfo> {
  const [{ info: raw, metadata }, outline] = await Promise.all([
    doc.getMetadata().catch(() => ({ info: {}, metadata: null })),
    doc.getOutline().catch(() => null),
  ]);
  const dict = raw as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
  const xmp = (name: string) => {
    const value: unknown = metadata?.get(name);
    return text(Array.isArray(value) ? value.join(', ') : value);
  };
  const date = (value: unknown) => {
    const parsed = typeof value === 'string' ? pdfjs.PDFDateString.toDateObject(value) : null;
    return parsed && !Number.isNaN(parsed.getTime()) ? parsed.toISOString() : undefined;
  };
  const info: DocumentInfo = { type: 'pdf', mimeType: 'application/pdf', pages: doc.numPages };
  const title = text(dict.Title) ?? xmp('dc:title');
  const author = text(dict.Author) ?? xmp('dc:creator');
  const created = date(dict.CreationDate);
  const modified = date(dict.ModDate);
  if (title) info.title = title;
  if (author) info.author = author;
  if (created) info.created = created;
  if (modified) info.modified = modified;
  const titles: string[] = [];
  const walk = (nodes: { title: string; items: unknown[] }[], depth: number) => {
    for (const node of nodes) {
      if (titles.length >= 1000) return;
      const title = node.title.replace(/\s+/g, ' ').trim();
      if (title) titles.push('  '.repeat(depth) + title);
      walk(node.items as { title: string; items: unknown[] }[], depth + 1);
    }
  };
  walk(outline ?? [], 0);
  if (titles.length) info.outline = titles;
  const properties: Record<string, string> = {};
  for (const key of ['Subject', 'Keywords', 'Creator', 'Producer', 'PDFFormatVersion']) {
    const value = text(dict[key]);
    if (value) properties[key === 'PDFFormatVersion' ? 'pdfVersion' : key.toLowerCase()] = value;
  }
  if (Object.keys(properties).length) info.properties = properties;
  return info;
}

function pdfError(error: unknown, bytes: Uint8Array): FathomError {
  if (error instanceof FathomError) return error;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'PasswordException') {
    return new FathomError('invalid_argument', 'Encrypted PDF: a password is needed to read it', {
      cause: error,
      hint: 'Ask for an unencrypted copy, or remove the password first (e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`).',
    });
  }
  const tail = Buffer.from(bytes.subarray(Math.max(0, bytes.byteLength - 1024))).toString('latin1');
  let reason: string;
  if (bytes.byteLength === 0) reason = 'the file is empty';
  else if (!tail.includes('%%EOF')) reason = 'the file is truncated (it has no end-of-file marker) and its structure cannot be read';
  else if (name === 'InvalidPDFException') reason = 'its structure is invalid (no readable cross-reference table or page tree)';
  else reason = `pdf.js could not read it (${message})`;
  return new FathomError('invalid_argument', `Corrupt PDF: ${reason}`, { cause: error, hint: CORRUPT_HINT });
}

/** Joins the extracts of one file's page ranges into sections, cleaned across the whole range. */
export function assemblePdf(extracts: PdfExtract[]): ConvertedDocument {
  const first = extracts[0];
  if (!first) throw new FathomError('internal', 'No PDF pages were extracted');
  const info: DocumentInfo = { ...first.info };
  const pages = extracts.flatMap((extract) => extract.pages).sort((p, q) => p.page - q.page);
  const characters = pages.reduce((sum, page) => sum + page.rows.reduce((s, row) => s + row.fragments.reduce((c, f) => c + f.text.length, 0), 0), 0);
  const scanned = pages.length > 0 && characters < 16 * pages.length;
  const notes: string[] = [];
  if (scanned) notes.push(SCANNED_NOTE);
  else dropRunningLines(pages);
  const failed = pages.filter((page) => page.error).map((page) => page.page);
  if (failed.length) notes.push(`Page${failed.length > 1 ? 's' : ''} ${failed.join(', ')} could not be read (damaged content).`);
  if (notes.length) info.notes = notes;
  const sections = pages.map((page) => pageSection(page, scanned));
  return { info, sections };
}

function pageSection(page: PdfPageText, scanned: boolean): Section {
  const tables: Table[] = [];
  let body: string;
  if (page.error) body = '_(This page could not be read: its content is damaged.)_';
  else {
    body = tidy([renderRows(readingOrder(page.rows), `page ${page.page}`, tables), page.aside.join('\n')].join('\n\n'));
    if (scanned) body = `_(Scanned page: no text layer; OCR is needed to read it.)_${body ? `\n\n${body}` : ''}`;
    else if (!body) body = '_(No text on this page.)_';
  }
  // The body is tidy already (trimmed, no trailing spaces, no runs of blank lines).
  const section: Section = { kind: 'page', index: page.page, name: String(page.page), markdown: `<!-- page ${page.page} -->\n\n${body}` };
  if (tables.length) section.tables = tables;
  return section;
}

const rowText = (row: PdfRow) => (row.fragments.length === 1 ? row.fragments[0]!.text : row.fragments.map((fragment) => fragment.text).join(' '));

/**
 * Removes page numbers and running titles from the top and bottom two lines of each page: lines
 * repeated (digits aside) on most pages, and lines in a spot that most pages fill with one of a
 * few texts (chapter titles, alternating heads) no larger than body text. A repeat set much
 * larger than elsewhere, like the title on page 1, stays.
 */
function dropRunningLines(pages: PdfPageText[]): void {
  const withText = pages.filter((page) => page.rows.length > 0);
  if (withText.length < 3) return;
  const text = (row: PdfRow) => rowText(row).toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ');
  const texts = new Map<string, { pages: number; size: number }>();
  const slots = new Map<string, { pages: number; texts: Set<string> }>();
  const edges = (page: PdfPageText) => [
    ...page.rows.slice(0, 2).map((row) => ({ row, zone: 'top' })),
    ...page.rows.slice(-2).map((row) => ({ row, zone: 'bottom' })),
  ];
  const keys = (row: PdfRow, zone: string) => ({
    text: `${zone}:${text(row)}`,
    slot: `${zone}:${Math.round(row.y / 2)}:${Math.round(row.size)}`,
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
  const needed = Math.max(3, Math.ceil(withText.length / 2));
  const running = (zone: string, row: PdfRow | undefined) => {
    if (!row) return false;
    const key = keys(row, zone);
    const repeat = texts.get(key.text)!;
    const slot = slots.get(key.slot)!;
    if (repeat.pages >= needed && row.size <= 1.25 * repeat.size) return true;
    return repeat.pages >= 2 && slot.pages >= needed && slot.texts.size <= slot.pages / 3 && row.size <= 1.05 * bodySize;
  };
  for (const page of withText) {
    // Peeled from the edges inwards, so no body line between two kept ones is taken.
    let start = 0;
    let end = page.rows.length;
    while (start < 2 && running('top', page.rows[start])) start++;
    while (end > start && page.rows.length - end < 2 && running('bottom', page.rows[end - 1])) end--;
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
function readingOrder(rows: PdfRow[]): PdfRow[] {
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
  const full = rows.filter((row) => row.fragments.at(-1)!.end - row.fragments[0]!.x >= 0.75 * (end - start)).length;
  const characters = rows.reduce((sum, row) => sum + rowText(row).length, 0);
  return characters / rows.length >= 25 && full >= 0.6 * rows.length;
}

/**
 * Where a table starting at `rows[start]` ends: consecutive rows with the same number of fragments,
 * each under the one before in its column, and no column reaching into the next.
 */
function tableAt(rows: PdfRow[], start: number): number {
  const head = rows[start]!;
  const n = head.fragments.length;
  if (n < 2) return start;
  const columns = head.fragments.map((f) => ({ x: f.x, end: f.end }));
  let end = start + 1;
  for (; end < rows.length; end++) {
    const row = rows[end]!;
    if (row.fragments.length !== n || row.y - rows[end - 1]!.y > 3 * Math.max(row.size, head.size)) break;
    const aligned = row.fragments.every((f, k) => f.x < columns[k]!.end && f.end > columns[k]!.x);
    const merged = columns.map((column, k) => ({ x: Math.min(column.x, row.fragments[k]!.x), end: Math.max(column.end, row.fragments[k]!.end) }));
    if (!aligned || merged.some((column, k) => k > 0 && column.x <= merged[k - 1]!.end + 0.5 * head.size)) break;
    columns.splice(0, n, ...merged);
  }
  if (end - start < MIN_TABLE_ROWS) return start;
  const cells = rows.slice(start, end).flatMap((row) => row.fragments);
  const average = cells.reduce((sum, f) => sum + f.text.length, 0) / cells.length;
  return average <= 40 ? end : start;
}

function renderRows(rows: PdfRow[], location: string, tables: Table[]): string {
  const steps = rows
    .slice(1)
    .map((row, k) => row.y - rows[k]!.y)
    .filter((step, k) => step > 0.5 * rows[k]!.size && step < 3 * rows[k]!.size)
    .sort((p, q) => p - q);
  const step = steps[Math.floor(steps.length / 2)];
  const blocks: string[] = [];
  let lines: string[] = [];
  const flush = () => {
    if (lines.length) blocks.push(dehyphenate(lines).join('\n'));
    lines = [];
  };
  for (let i = 0; i < rows.length; ) {
    const row = rows[i]!;
    const previous = rows[i - 1];
    if (previous && row.y - previous.y > (step ? 1.5 * step : 2 * row.size)) flush();
    const end = tableAt(rows, i);
    if (end > i) {
      flush();
      const [header, ...body] = rows.slice(i, end).map((r) => r.fragments.map((f) => f.text));
      const table: Table = { location, header: header!, rows: body };
      tables.push(table);
      blocks.push(gfmTable(table.header, table.rows));
      i = end;
      continue;
    }
    lines.push(rowText(row));
    i++;
  }
  flush();
  return blocks.join('\n\n');
}

/**
 * Joins words split at line ends: "informa-" + "tion is" gives "information" + "is", and
 * "OP-" + "TIONAL" gives "OPTIONAL"; a compound such as "Franco-" + "Prussian" keeps its hyphen.
 */
function dehyphenate(lines: string[]): string[] {
  for (let i = 0; i + 1 < lines.length; i++) {
    const line = lines[i]!;
    const last = line.charCodeAt(line.length - 1);
    if (last !== 0x2d && last !== 0xad && last !== 0x2010) continue;
    const next = lines[i + 1]!;
    // Only the last word can match: the pattern holds no space.
    const split = /(\p{L}+)([-\u00AD\u2010])$/u.exec(line.slice(line.lastIndexOf(' ') + 1));
    const [word = '', rest = ''] = next.split(/ (.*)/s);
    if (!split || !/^\p{L}/u.test(word)) continue;
    const [, before = '', hyphen] = split;
    const capitals = /^\p{Lu}+$/u.test(before) && /^\p{Lu}{2}/u.test(word);
    const keep = /^\p{Lu}/u.test(word) && !capitals && hyphen !== '\u00AD';
    if (!keep && !/^\p{Ll}/u.test(word) && !capitals) continue;
    lines[i] = (keep ? line : line.slice(0, -1)) + word;
    lines[i + 1] = rest;
  }
  return lines.filter((line) => line !== '');
}

/** Converts pages `firstPage`..`lastPage` only; running headers are judged within that range. */
export async function convertPdfPages(bytes: Uint8Array, firstPage: number, lastPage: number, _options?: Partial<ConvertOptions>): Promise<ConvertedDocument> {
  return assemblePdf([await extractPdf(bytes, firstPage, lastPage)]);
}

export const converter: Converter = {
  types: ['pdf'],
  async convert(input: ConvertInput): Promise<ConvertedDocument> {
    return assemblePdf([await extractPdf(input.bytes)]);
  },
};
