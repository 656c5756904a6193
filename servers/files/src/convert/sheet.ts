import { decodeHtmlEntities, FathomError } from '@fathom/core';
import JSZip from 'jszip';
import * as XLSX from 'xlsx';
import { decodeText } from './decode.js';
import { MIME_OF } from './detect.js';
import { columnName, gfmTable } from './markdown.js';
import { isEncryptedOoxml } from './ooxml.js';
import { binaryShare } from './text.js';
import type { ConvertedDocument, ConvertInput, Converter, DocumentInfo, DocumentType, Section } from './types.js';

/** Data rows per section: a longer sheet is paged into several sections of the same name. */
export const ROWS_PER_SECTION = 500;
/** A sheet whose used range spans more cells than this is refused rather than laid out. */
const MAX_CELLS = 20_000_000;

const LABEL: Partial<Record<DocumentType, string>> = { xlsx: 'XLSX', xls: 'XLS', ods: 'ODS' };
const DELIMITERS = [',', ';', '\t', '|'] as const;
const DELIMITER_NAMES: Record<string, string> = { ',': 'comma', ';': 'semicolon', '\t': 'tab', '|': 'pipe' };

/** One sheet's cells as display text, trimmed to the used area; `firstColumn` keeps the column letters true. */
interface Grid {
  name: string;
  hidden: boolean;
  rows: string[][];
  firstColumn: number;
}

export const converter: Converter = {
  types: ['xlsx', 'xls', 'ods', 'csv', 'tsv'],
  async convert(input, type) {
    if (type === 'csv' || type === 'tsv') return delimited(input, type);
    if (!hasWorkbookSignature(input.bytes, type) && isText(input.bytes)) {
      const document = delimited(input, 'csv');
      document.info.notes = [`Labelled ${LABEL[type] ?? type} but holds delimited text; read as CSV.`, ...(document.info.notes ?? [])];
      return document;
    }
    return workbook(input, type);
  },
};

// ---- workbooks (SheetJS) ----

async function workbook(input: ConvertInput, type: DocumentType): Promise<ConvertedDocument> {
  const label = LABEL[type] ?? type.toUpperCase();
  if (!hasWorkbookSignature(input.bytes, type)) {
    const container = type === 'xls' ? 'an Excel (OLE/BIFF) file' : 'a ZIP or OLE container';
    const problem = input.bytes.length === 0 ? 'the file is empty' : `the file is not ${container}`;
    throw new FathomError('invalid_argument', `Corrupt ${label}: ${problem}, so it is not a readable spreadsheet`, {
      hint: 'Check that the file was downloaded completely and really is a spreadsheet.',
    });
  }
  if (isEncryptedOoxml(input.bytes)) throw encrypted();
  let book: XLSX.WorkBook;
  const bytes = Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength);
  const read = (sheetStubs: boolean) =>
    XLSX.read(bytes, { type: 'buffer', cellText: true, cellDates: true, cellNF: true, cellHTML: false, bookFiles: type === 'xlsx', sheetStubs });
  try {
    book = read(false);
    // SheetJS keeps a formula saved without its value (openpyxl and others write them) only as a
    // stub cell, and stubs cost memory for every empty styled cell: they are read only when needed.
    if (type === 'xlsx' && hasUncachedFormula(book)) book = read(true);
    delete (book as { files?: unknown }).files;
  } catch (error) {
    throw readError(label, input.bytes, error);
  }
  if (!book.SheetNames.length) {
    throw new FathomError('invalid_argument', `Corrupt ${label}: the workbook has no sheets`, { hint: 'Check that the file is a complete spreadsheet.' });
  }

  const hiddenOds = type === 'ods' ? await hiddenOdsSheets(input.bytes) : new Set<string>();
  const notes: string[] = [];
  const sections: Section[] = [];
  // SheetJS leaves XML escapes in ODS sheet names.
  const names = book.SheetNames.map((name) => (type === 'ods' ? decodeHtmlEntities(name, { xmlOnly: true }) : name));
  book.SheetNames.forEach((key, i) => {
    const name = names[i]!;
    const sheet = book.Sheets[key];
    const hidden = Boolean(book.Workbook?.Sheets?.[i]?.Hidden) || hiddenOds.has(name);
    const grid = sheet ? sheetGrid(sheet, name, hidden) : { name, hidden, rows: [], firstColumn: 0 };
    if (!grid.rows.length) notes.push(`Sheet "${name}" is empty.`);
    sections.push(...gridSections(grid, sections.length + 1));
  });

  const props = book.Props as XLSX.FullProperties | undefined;
  const info: DocumentInfo = { type, mimeType: MIME_OF[type], sheets: names };
  if (props?.Title) info.title = props.Title;
  if (props?.Author) info.author = props.Author;
  const created = isoDate(props?.CreatedDate);
  const modified = isoDate(props?.ModifiedDate);
  if (created) info.created = created;
  if (modified) info.modified = modified;
  if (notes.length) info.notes = notes;
  return { info, sections };
}

/** A ZIP (XLSX, ODS) or an OLE container (XLS, or an encrypted XLSX); XLS may also be BIFF, HTML or XML. */
const UNCACHED_FORMULA = /(?:<\/(?:\w+:)?f>|<(?:\w+:)?f\b[^>]*\/>)\s*(?:<(?:\w+:)?v\s*\/>|<(?:\w+:)?v>\s*<\/(?:\w+:)?v>)?\s*<\/(?:\w+:)?c>/;

/** Whether a worksheet of the workbook (its XML, which `bookFiles` keeps) has a formula cell with no saved value. */
function hasUncachedFormula(book: XLSX.WorkBook): boolean {
  const files = (book as { files?: Record<string, { content?: Uint8Array }> }).files ?? {};
  return Object.entries(files).some(
    ([path, file]) => /(^|\/)xl\/worksheets\/[^/]+\.xml$/i.test(path) && file.content && UNCACHED_FORMULA.test(Buffer.from(file.content).toString('latin1')),
  );
}

function hasWorkbookSignature(bytes: Uint8Array, type: DocumentType): boolean {
  const zip = bytes[0] === 0x50 && bytes[1] === 0x4b;
  const ole = isOle(bytes);
  if (type !== 'xls') return zip || ole;
  const biff = bytes[0] === 0x09 && [0x00, 0x02, 0x04, 0x08].includes(bytes[1] ?? -1);
  const markup = /^\s*</.test(Buffer.from(bytes.subarray(0, 64)).toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, ''));
  return zip || ole || biff || markup;
}

function isOle(bytes: Uint8Array): boolean {
  return [0xd0, 0xcf, 0x11, 0xe0].every((byte, i) => bytes[i] === byte);
}

function isText(bytes: Uint8Array): boolean {
  return bytes.length > 0 && binaryShare(decodeText(bytes.subarray(0, 8192)).text) === 0;
}

function encrypted(cause?: unknown): FathomError {
  return new FathomError('invalid_argument', 'Encrypted spreadsheet: a password is needed to read it', {
    hint: 'Open it in a spreadsheet app with the password and save an unprotected copy, then convert that.',
    ...(cause ? { cause } : {}),
  });
}

function readError(label: string, bytes: Uint8Array, error: unknown): FathomError {
  const raw = error instanceof Error ? error.message : String(error);
  // Office encrypts a workbook inside an OLE container (a protected XLS, or OOXML as EncryptionInfo
  // and EncryptedPackage streams); a ZIP that SheetJS calls encrypted is only damaged, and its
  // words are left out so as not to mislead.
  const claimsEncryption = /password|encrypt/i.test(raw);
  if (claimsEncryption && isOle(bytes)) return encrypted(error);
  const problem = /zip|central directory|inflate/i.test(raw)
    ? 'the ZIP container is truncated or damaged'
    : /version|sector|header|cfb|fat\b|mini/i.test(raw)
      ? 'the OLE container is truncated or damaged'
      : 'the workbook could not be parsed';
  const detail = claimsEncryption ? '' : ` (${raw})`;
  return new FathomError('invalid_argument', `Corrupt ${label}: ${problem}, so it is not a readable spreadsheet${detail}`, {
    hint: 'Check that the file was downloaded completely; re-save it from a spreadsheet app if it opens there.',
    cause: error,
  });
}

function sheetGrid(sheet: XLSX.WorkSheet, name: string, hidden: boolean): Grid {
  // Merged cells keep their value in the top-left cell only.
  const covered = new Set<string>();
  const used = sheet['!ref'] ? XLSX.utils.decode_range(sheet['!ref']) : undefined;
  for (const merge of sheet['!merges'] ?? []) {
    const lastRow = Math.min(merge.e.r, used?.e.r ?? merge.s.r);
    const lastColumn = Math.min(merge.e.c, used?.e.c ?? merge.s.c);
    for (let r = merge.s.r; r <= lastRow; r++) {
      for (let c = merge.s.c; c <= lastColumn; c++) if (r !== merge.s.r || c !== merge.s.c) covered.add(XLSX.utils.encode_cell({ r, c }));
    }
  }

  // The bounds come from the cells that show something, not from the declared range, which may claim far more.
  const cells: { r: number; c: number; text: string }[] = [];
  let top = Infinity, left = Infinity, bottom = -1, right = -1;
  for (const address of Object.keys(sheet)) {
    if (address.startsWith('!') || covered.has(address)) continue;
    const text = displayText(sheet[address] as XLSX.CellObject).trim();
    if (!text) continue;
    const { r, c } = XLSX.utils.decode_cell(address);
    cells.push({ r, c, text });
    top = Math.min(top, r);
    left = Math.min(left, c);
    bottom = Math.max(bottom, r);
    right = Math.max(right, c);
  }
  if (!cells.length) return { name, hidden, rows: [], firstColumn: 0 };
  const height = bottom - top + 1;
  const width = right - left + 1;
  if (height * width > MAX_CELLS) {
    throw new FathomError('too_large', `Sheet "${name}" spans ${height.toLocaleString('en-US')} rows by ${width.toLocaleString('en-US')} columns, too many cells to lay out`, {
      hint: 'Split the sheet, or export the part you need as CSV.',
    });
  }
  const rows = Array.from({ length: height }, () => new Array<string>(width).fill(''));
  for (const { r, c, text } of cells) rows[r - top]![c - left] = text;
  return { name, hidden, rows, firstColumn: left };
}

/**
 * What the sheet shows: the formatted text when the file or SheetJS has it, else the raw value;
 * a formula whose value was never saved shows as the formula, as a spreadsheet shows it before it calculates.
 */
function displayText(cell: XLSX.CellObject | undefined): string {
  if (!cell) return '';
  if (cell.t === 'z') return cell.f ? `=${cell.f}` : '';
  if (cell.w !== undefined) return cell.w;
  if (cell.v instanceof Date) return isoDate(cell.v) ?? '';
  if (cell.v === undefined || cell.v === null) return '';
  if (cell.t === 'b') return cell.v ? 'TRUE' : 'FALSE';
  return String(cell.v);
}

function isoDate(value: unknown): string | undefined {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return undefined;
    const iso = value.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z');
  }
  return typeof value === 'string' && value ? value : undefined;
}

/** LibreOffice hides a sheet through its table style (`table:display="false"`), which SheetJS does not read. */
async function hiddenOdsSheets(bytes: Uint8Array): Promise<Set<string>> {
  const hidden = new Set<string>();
  let xml: string | undefined;
  try {
    xml = await (await JSZip.loadAsync(bytes)).file('content.xml')?.async('string');
  } catch {
    return hidden;
  }
  if (!xml) return hidden;
  const attribute = (attributes: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(attributes)?.[1];
  const hiddenStyles = new Set<string>();
  for (const match of xml.matchAll(/<style:style\b([^>]*)>([\s\S]*?)<\/style:style>/g)) {
    const styleName = attribute(match[1]!, 'style:name');
    if (styleName && attribute(match[1]!, 'style:family') === 'table' && /table:display="false"/.test(match[2]!)) hiddenStyles.add(styleName);
  }
  if (!hiddenStyles.size) return hidden;
  for (const match of xml.matchAll(/<table:table\b([^>]*)>/g)) {
    const style = attribute(match[1]!, 'table:style-name');
    const name = attribute(match[1]!, 'table:name');
    if (style && name && hiddenStyles.has(style)) hidden.add(decodeHtmlEntities(name, { xmlOnly: true }));
  }
  return hidden;
}

// ---- delimited text ----

function delimited(input: ConvertInput, type: 'csv' | 'tsv'): ConvertedDocument {
  const { text: decoded, encoding } = decodeText(input.bytes, input.mimeType);
  const text = decoded.replace(/^\uFEFF/, '');
  const delimiter = detectDelimiter(text, type === 'tsv' ? '\t' : ',');
  const name = fileName(input.name) ?? 'data';
  const { rows, firstColumn } = trimGrid(parseDelimited(text, delimiter));
  const grid: Grid = { name, hidden: false, rows, firstColumn };
  return {
    info: {
      type,
      mimeType: MIME_OF[type],
      sheets: [name],
      ...(rows.length ? {} : { notes: ['The file holds no data.'] }),
      properties: { encoding, delimiter: DELIMITER_NAMES[delimiter] ?? delimiter, rows: rows.length, columns: rows[0]?.length ?? 0 },
    },
    sections: gridSections(grid, 1),
  };
}

function fileName(name: string | undefined): string | undefined {
  const path = name?.split(/[?#]/)[0] ?? '';
  const base = path.slice(path.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(base) || undefined;
  } catch {
    return base || undefined;
  }
}

/**
 * The delimiter that splits the first records into the most consistent number of fields (more
 * than one); ties go to the larger field count, then to the usual order.
 */
export function detectDelimiter(text: string, preferred: string = ','): string {
  const sample = text.slice(0, 64 * 1024);
  const order = [preferred, ...DELIMITERS.filter((d) => d !== preferred)];
  let best = { delimiter: preferred, consistency: 0, fields: 1 };
  for (const delimiter of order) {
    let records = parseDelimited(sample, delimiter, 50).filter((record) => record.length > 1 || record[0] !== '');
    if (sample.length < text.length && records.length > 1) records = records.slice(0, -1);
    const counts = new Map<number, number>();
    for (const record of records) counts.set(record.length, (counts.get(record.length) ?? 0) + 1);
    const [fields, hits] = [...counts].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0] ?? [1, 0];
    if (fields < 2) continue;
    const consistency = hits / records.length;
    if (consistency > best.consistency || (consistency === best.consistency && fields > best.fields)) best = { delimiter, consistency, fields };
  }
  return best.delimiter;
}

/**
 * RFC 4180 records: quoted fields may hold delimiters, doubled quotes and line breaks; CRLF, LF
 * or CR end a record. Lenient like spreadsheet apps: a stray quote inside an unquoted field is
 * text, and text after a closing quote is kept.
 */
export function parseDelimited(text: string, delimiter: string, limit = Infinity): string[][] {
  const records: string[][] = [];
  const separator = delimiter.charCodeAt(0);
  const n = text.length;
  const boundary = (from: number) => {
    let j = from;
    for (; j < n; j++) {
      const code = text.charCodeAt(j);
      if (code === separator || code === 10 || code === 13) break;
    }
    return j;
  };
  let record: string[] = [];
  let i = 0;
  while (records.length < limit) {
    let value = '';
    if (text[i] === '"') {
      let j = i + 1;
      for (;;) {
        const quote = text.indexOf('"', j);
        if (quote === -1) {
          value += text.slice(j);
          i = n;
          break;
        }
        value += text.slice(j, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          j = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
    }
    const end = boundary(i);
    value += text.slice(i, end);
    i = end;
    record.push(value);
    if (i >= n) {
      records.push(record);
      break;
    }
    if (text.charCodeAt(i) === separator) {
      i++;
      continue;
    }
    i += text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1;
    records.push(record);
    record = [];
    if (i >= n) break;
  }
  return records;
}

/** Drops empty rows and columns around the data and pads every row to the same width. */
function trimGrid(rows: string[][]): { rows: string[][]; firstColumn: number } {
  const filled = (value: string | undefined) => value !== undefined && value.trim() !== '';
  let top = rows.findIndex((row) => row.some(filled));
  if (top === -1) return { rows: [], firstColumn: 0 };
  let bottom = rows.length - 1;
  while (!rows[bottom]!.some(filled)) bottom--;
  let left = Infinity;
  let right = -1;
  for (let r = top; r <= bottom; r++) {
    rows[r]!.forEach((value, c) => {
      if (!filled(value)) return;
      left = Math.min(left, c);
      right = Math.max(right, c);
    });
  }
  const trimmed: string[][] = [];
  for (; top <= bottom; top++) trimmed.push(Array.from({ length: right - left + 1 }, (_, c) => (rows[top]![left + c] ?? '').trim()));
  return { rows: trimmed, firstColumn: left };
}

// ---- markdown ----

function gridSections(grid: Grid, firstIndex: number): Section[] {
  const heading = `## ${grid.name}${grid.hidden ? ' (hidden sheet)' : ''}`;
  const base = { kind: 'sheet' as const, name: grid.name, ...(grid.hidden ? { hidden: true } : {}) };
  if (!grid.rows.length) return [{ ...base, index: firstIndex, markdown: `${heading}\n\n(empty sheet)` }];

  const rows = [...grid.rows];
  const width = rows[0]!.length;
  // Title lines above the table: rows with a single filled cell on a wide sheet.
  const titles: string[] = [];
  while (rows.length > 1 && width >= 3 && titles.length < 3 && rows[0]!.filter(Boolean).length === 1) {
    titles.push(rows.shift()!.find(Boolean)!);
    while (rows.length > 1 && !rows[0]!.some(Boolean)) rows.shift();
  }
  const header = rows.length > 1 && looksLikeHeader(rows[0]!) ? rows.shift()! : Array.from({ length: width }, (_, c) => columnName(grid.firstColumn + c));

  const total = rows.length;
  const paged = total > ROWS_PER_SECTION;
  const sections: Section[] = [];
  for (let start = 0; start === 0 || start < total; start += ROWS_PER_SECTION) {
    const chunk = rows.slice(start, start + ROWS_PER_SECTION);
    const span = `${start + 1}–${start + chunk.length}`;
    const caption = start === 0 && titles.length ? titles.join('\n\n') : undefined;
    const parts = [paged ? `${heading} (rows ${span} of ${total.toLocaleString('en-US')})` : heading];
    if (caption) parts.push(caption);
    parts.push(gfmTable(header, chunk));
    sections.push({
      ...base,
      index: firstIndex + sections.length,
      markdown: parts.join('\n\n'),
      tables: [{ location: `sheet ${grid.name}${paged ? ` rows ${span}` : ''}`, ...(caption ? { caption } : {}), header, rows: chunk }],
    });
  }
  return sections;
}

const VALUE = /^(?:[-+(]?[$€£¥]?\s?\d[\d,.\s']*(?:[eE][-+]?\d+)?\)?\s?(?:%|[$€£¥]|[a-z]{3})?|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T].*)?|\d{1,2}:\d{2}(?::\d{2})?(?:\s?[ap]m)?|true|false|#[A-Z/0!?]+)$/i;

const YEAR = /^(?:19|20)\d\d$/;

/** A header row is mostly text, not numbers, dates or booleans; years count as labels beside text ("Region | 2023 | 2024"). */
function looksLikeHeader(row: string[]): boolean {
  const filled = row.filter(Boolean);
  const text = filled.filter((value) => !VALUE.test(value)).length;
  const years = filled.filter((value) => YEAR.test(value)).length;
  return text > 0 && (text + years) / filled.length >= 0.75;
}
