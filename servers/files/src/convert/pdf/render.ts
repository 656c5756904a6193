import { FathomError } from '@fathom/core';
import { gfmTable, tidy } from '../markdown.js';
import type { ConvertedDocument, DocumentInfo, Section, Table } from '../types.js';
import { dropRunningLines, readingOrder, rowText, tableAt } from './layout.js';
import type { PdfExtract, PdfPageText, PdfRow } from './types.js';

const SCANNED_NOTE = 'This PDF has no text layer (it is scanned images); its text cannot be read without OCR.';
/** Fewer characters than this a page, on average, and the file is scanned: what text there is, is stamps and page numbers. */
const SCANNED_CHARS_PER_PAGE = 16;
/** Steps between lines, in font sizes, that count towards the usual line spacing (closer is one line, farther a gap). */
const LINE_STEP_MIN = 0.5;
const LINE_STEP_MAX = 3;
/** A step over this many usual line spacings starts a new paragraph. */
const PARAGRAPH_STEP = 1.5;
/** Without a usual spacing (a page of one line or two), a step over this many font sizes does. */
const PARAGRAPH_GAP = 2;

/** Joins the extracts of one file's page ranges into sections, cleaned across the whole range. */
export function assemblePdf(extracts: PdfExtract[]): ConvertedDocument {
  const first = extracts[0];
  if (!first) throw new FathomError('internal', 'No PDF pages were extracted');
  const info: DocumentInfo = { ...first.info };
  const pages = extracts.flatMap((extract) => extract.pages).sort((p, q) => p.page - q.page);
  const characters = pages.reduce((sum, page) => sum + page.rows.reduce((s, row) => s + row.fragments.reduce((c, f) => c + f.text.length, 0), 0), 0);
  const scanned = pages.length > 0 && characters < SCANNED_CHARS_PER_PAGE * pages.length;
  const notes: string[] = [];
  if (scanned) notes.push(SCANNED_NOTE);
  else dropRunningLines(pages);
  const failed = pages.filter((page) => page.error).map((page) => page.page);
  if (failed.length) notes.push(`Page${failed.length > 1 ? 's' : ''} ${failed.join(', ')} could not be read (damaged content).`);
  if (notes.length) info.notes = notes;
  const sections = pages.map((page) => pageSection(page, scanned));
  return { info, sections };
}

/** One page's markdown under its `<!-- page N -->` marker, with the tables found on it. */
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

/** Rows to markdown: paragraphs at wide steps, tables where `tableAt` finds them, words joined across line-end hyphens. */
function renderRows(rows: PdfRow[], location: string, tables: Table[]): string {
  const steps = rows
    .slice(1)
    .map((row, k) => row.y - rows[k]!.y)
    .filter((step, k) => step > LINE_STEP_MIN * rows[k]!.size && step < LINE_STEP_MAX * rows[k]!.size)
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
    if (previous && row.y - previous.y > (step ? PARAGRAPH_STEP * step : PARAGRAPH_GAP * row.size)) flush();
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
