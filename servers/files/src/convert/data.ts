import { decodeHtmlEntities, FathomError } from '@fathom/core';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { isMap, isScalar, parseAllDocuments } from 'yaml';
import { decodeText } from './decode.js';
import { MIME_OF } from './detect.js';
import { fence, gfmTable } from './markdown.js';
import { MAX_NESTING, jsonDepth, tooDeep, yamlDepth } from './nesting.js';
import type { ConvertedDocument, Converter, DocumentInfo, DocumentType, Section } from './types.js';

const MAX_COLUMNS = 30;
const ROWS_PER_SECTION = 500;
/** A record value longer than this as JSON makes the array a document, not a table. */
const MAX_NESTED_CELL = 100;
const MAX_XML_DEPTH = 16;

/** A JSON.parse error as a reason with a line and column instead of a character offset. */
export function jsonProblem(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith('Unexpected end')) return text.trim() ? 'it ends in the middle of a value; the file may be truncated' : 'the file is empty';
  const token = /^Unexpected token '(.)'/s.exec(message)?.[1];
  const reason = token ? `Unexpected character ${JSON.stringify(token)}` : message.replace(/ in JSON at position \d+.*$/s, '');
  const stated = /at position (\d+)/.exec(message)?.[1];
  const offset = stated ? Number(stated) : errorOffset(text);
  if (offset === undefined) return reason;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${reason} at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

/** Node 20 gives no position for some errors: find the longest prefix that still starts valid JSON. */
function errorOffset(text: string): number | undefined {
  if (text.length > 10_000_000) return undefined;
  const viable = (prefix: string) => {
    try {
      JSON.parse(prefix);
      return true;
    } catch (error) {
      const message = (error as Error).message;
      return message.startsWith('Unexpected end') || message.includes(`at position ${prefix.length}`);
    }
  };
  let good = 0;
  let bad = text.length;
  while (bad - good > 1) {
    const middle = (good + bad) >> 1;
    if (viable(text.slice(0, middle))) good = middle;
    else bad = middle;
  }
  return good;
}

// ---------------------------------------------------------------------------------------------
// XML: a small element tree on fast-xml-parser, shared with the EPUB and feed converters.
// DTD entities are never expanded (billion laughs): only the five predefined entities and
// character references are decoded; any other reference is left as written.

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
}
/** Text (entities decoded, CDATA as written) or an element. */
export type XmlNode = XmlElement | string;

const xmlParser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  cdataPropName: '#cdata',
  ignoreDeclaration: true,
  ignorePiTags: true,
  // The parser lets one level more through than this says.
  maxNestedTags: MAX_NESTING - 1,
});

type OrderedNode = Record<string, unknown>;

function toTree(nodes: OrderedNode[]): XmlNode[] {
  const tree: XmlNode[] = [];
  for (const node of nodes) {
    const name = Object.keys(node).find((key) => key !== ':@');
    if (name === undefined) continue;
    const value = node[name];
    if (name === '#text') tree.push(decodeHtmlEntities(String(value), { xmlOnly: true }));
    else if (name === '#cdata') tree.push((value as OrderedNode[]).map((part) => String(part['#text'] ?? '')).join(''));
    else {
      const attributes = Object.fromEntries(
        Object.entries((node[':@'] ?? {}) as Record<string, unknown>).map(([key, raw]) => [key, decodeHtmlEntities(String(raw), { xmlOnly: true })]),
      );
      tree.push({ name, attributes, children: toTree(value as OrderedNode[]) });
    }
  }
  return tree;
}

/** XML bytes as text, honouring the encoding its declaration names when the server named none. */
export function xmlText(bytes: Uint8Array, mimeType?: string): string {
  const head = Buffer.from(bytes.subarray(0, 200)).toString('latin1');
  const declared = /^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.:-]+)/.exec(head)?.[1];
  return decodeText(bytes, mimeType?.includes('charset') ? mimeType : declared).text.replace(/^\uFEFF/, '');
}

/** The root element; throws an Error whose message says what is wrong and on which line. */
export function parseXml(text: string): XmlElement {
  const checked = XMLValidator.validate(text, { allowBooleanAttributes: true });
  if (checked !== true) throw new Error(`${checked.err.msg.replace(/\.$/, '')} at line ${checked.err.line}`);
  let parsed: OrderedNode[];
  try {
    parsed = xmlParser.parse(text) as OrderedNode[];
  } catch (error) {
    if (/maximum nested tags/i.test((error as Error).message)) throw new Error(`its elements are nested more than ${MAX_NESTING} levels deep, deeper than can be read`);
    throw error;
  }
  const root = toTree(parsed).find(isElement);
  if (!root) throw new Error('there is no root element');
  return root;
}

export function isElement(node: XmlNode | undefined): node is XmlElement {
  return typeof node === 'object';
}

export function localName(name: string): string {
  return name.slice(name.indexOf(':') + 1);
}

/** Child elements named `name` exactly, or else by local name (any namespace prefix). */
export function elements(parent: XmlElement | undefined, name?: string): XmlElement[] {
  const all = parent ? parent.children.filter(isElement) : [];
  if (name === undefined) return all;
  const exact = all.filter((child) => child.name === name);
  return exact.length ? exact : all.filter((child) => localName(child.name) === name);
}

export function element(parent: XmlElement | undefined, name: string): XmlElement | undefined {
  return elements(parent, name)[0];
}

/** Elements with this local name anywhere below, in document order. */
export function descendants(parent: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  for (const child of parent.children.filter(isElement)) {
    if (localName(child.name) === name) found.push(child);
    found.push(...descendants(child, name));
  }
  return found;
}

export function textOf(node: XmlNode | undefined): string {
  if (node === undefined) return '';
  return typeof node === 'string' ? node : node.children.map(textOf).join('');
}

/** Trimmed text with whitespace runs collapsed, or undefined when empty. */
export function cleanText(node: XmlNode | undefined): string | undefined {
  return textOf(node).replace(/\s+/g, ' ').trim() || undefined;
}

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function countElements(nodes: XmlNode[]): number {
  return nodes.filter(isElement).reduce((sum, child) => sum + 1 + countElements(child.children), 0);
}

function xmlOutline(node: XmlElement, depth: number, lines: string[]): void {
  const indent = '  '.repeat(depth);
  const attributes = Object.entries(node.attributes)
    .filter(([key]) => key !== 'xmlns' && !key.startsWith('xmlns:'))
    .map(([key, value]) => `${key}=${collapse(value)}`);
  const text = node.children.filter((child): child is string => typeof child === 'string').map(collapse).filter(Boolean).join(' ');
  lines.push(`${indent}- **${node.name}**${attributes.length ? ` (${attributes.join(', ')})` : ''}${text ? `: ${text}` : ''}`);
  const children = node.children.filter(isElement);
  if (children.length && depth + 1 >= MAX_XML_DEPTH) {
    lines.push(`${indent}  - … ${countElements(children)} more deeply nested elements`);
    return;
  }
  for (const child of children) xmlOutline(child, depth + 1, lines);
}

// ---------------------------------------------------------------------------------------------

function invalid(message: string, hint: string): FathomError {
  return new FathomError('invalid_argument', message, { hint });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFlatRecord(value: unknown): value is Record<string, unknown> {
  return (
    isRecord(value) &&
    Object.values(value).every((field) => typeof field !== 'object' || field === null || JSON.stringify(field).length <= MAX_NESTED_CELL)
  );
}

function isRecordList(values: unknown[]): values is Record<string, unknown>[] {
  return values.every(isFlatRecord) && values.some((record) => Object.keys(record).length > 0);
}

function display(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function recordSections(records: Record<string, unknown>[], notes: string[]): Section[] {
  const keys = [...new Set(records.flatMap((record) => Object.keys(record)))];
  const columns = keys.slice(0, MAX_COLUMNS);
  if (keys.length > MAX_COLUMNS) {
    const left = keys.slice(MAX_COLUMNS);
    const named = left.slice(0, 20).join(', ') + (left.length > 20 ? ` and ${left.length - 20} more` : '');
    notes.push(`${keys.length} fields; the table shows the first ${MAX_COLUMNS}, leaving out ${named}`);
  }
  const sections: Section[] = [];
  for (let start = 0; start < records.length; start += ROWS_PER_SECTION) {
    const end = Math.min(start + ROWS_PER_SECTION, records.length);
    const rows = records.slice(start, end).map((record) => columns.map((key) => display(record[key])));
    const label = `Records ${start + 1}–${end} of ${records.length}`;
    sections.push({
      kind: 'body',
      index: sections.length + 1,
      name: label.toLowerCase(),
      markdown: `## ${label}\n\n${gfmTable(columns, rows)}`,
      tables: [{ location: label.toLowerCase(), header: columns, rows }],
    });
  }
  return sections;
}

function prettyJson(text: string, value: unknown): string {
  // Re-indenting would round integers beyond 2^53; text already on several lines stays as written.
  const keep = text.trim().includes('\n') || /\d{16,}/.test(text);
  return fence(keep ? text.trim() : JSON.stringify(value, null, 2), 'json');
}

function convertJson(text: string, info: DocumentInfo): Section[] {
  if (jsonDepth(text) > MAX_NESTING) throw tooDeep('The JSON');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`Invalid JSON: ${jsonProblem(text, error)}`, 'Check that the file is complete JSON, or read it as text.');
  }
  if (Array.isArray(value) && isRecordList(value)) {
    info.properties = { records: value.length };
    return recordSections(value, (info.notes = []));
  }
  info.properties = Array.isArray(value)
    ? { items: value.length }
    : isRecord(value)
      ? { keys: Object.keys(value).slice(0, 50).join(', ') }
      : { value: typeof value };
  return [{ kind: 'body', index: 1, name: 'body', markdown: prettyJson(text, value) }];
}

function convertJsonl(text: string, info: DocumentInfo): Section[] {
  const entries: { line: number; value: unknown }[] = [];
  const bad: number[] = [];
  let firstProblem = '';
  text.split('\n').forEach((raw, i) => {
    if (!raw.trim()) return;
    if (jsonDepth(raw) > MAX_NESTING) throw tooDeep(`Line ${i + 1} of the JSONL`);
    try {
      entries.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (error) {
      bad.push(i + 1);
      firstProblem ||= `line ${i + 1}: ${jsonProblem(raw, error).replace(/ at line 1,/, ' at')}`;
    }
  });
  if (entries.length === 0) {
    const why = bad.length ? `no line is valid JSON (${firstProblem})` : 'the file is empty';
    throw invalid(`Invalid JSONL: ${why}`, 'JSON Lines holds one JSON value per line; check the file, or read it as text.');
  }
  const notes: string[] = [];
  if (bad.length) {
    const listed = bad.slice(0, 20).join(', ') + (bad.length > 20 ? ` and ${bad.length - 20} more` : '');
    notes.push(`${bad.length} line${bad.length > 1 ? 's are' : ' is'} not valid JSON and ${bad.length > 1 ? 'were' : 'was'} skipped: ${listed}`);
  }
  info.notes = notes;
  info.properties = { records: entries.length };
  const values = entries.map((entry) => entry.value);
  if (isRecordList(values)) return recordSections(values, notes);

  const sections: Section[] = [];
  for (let start = 0; start < entries.length; start += ROWS_PER_SECTION) {
    const page = entries.slice(start, start + ROWS_PER_SECTION);
    const blocks = page.map((entry) => `Line ${entry.line}:\n\n${fence(JSON.stringify(entry.value, null, 2), 'json')}`);
    const label = `Lines ${page[0]!.line}–${page.at(-1)!.line}`;
    const heading = entries.length > ROWS_PER_SECTION ? `## ${label}\n\n` : '';
    sections.push({ kind: 'body', index: sections.length + 1, name: label.toLowerCase(), markdown: heading + blocks.join('\n\n') });
  }
  return sections;
}

function convertYaml(text: string, info: DocumentInfo): Section[] {
  if (yamlDepth(text) > MAX_NESTING) throw tooDeep('The YAML');
  const documents = Array.from(parseAllDocuments(text));
  for (const document of documents) {
    const error = document.errors[0];
    if (error) {
      const reason = error.message.split(/ at line \d+/)[0];
      const line = error.linePos?.[0].line;
      throw invalid(`Invalid YAML: ${reason}${line ? ` at line ${line}` : ''}`, 'Fix the YAML at that line, or read the file as text.');
    }
  }
  const top = documents.find((document) => isMap(document.contents))?.contents;
  const keys = isMap(top) ? top.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : String(pair.key))) : [];
  info.properties = { documents: documents.length, ...(keys.length ? { keys: keys.slice(0, 50).join(', ') } : {}) };
  return [{ kind: 'body', index: 1, name: 'body', markdown: fence(text, 'yaml') }];
}

function convertXml(text: string, info: DocumentInfo): Section[] {
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (error) {
    throw invalid(`Invalid XML: ${(error as Error).message}`, 'Check that the file is complete, well-formed XML, or read it as text.');
  }
  const lines: string[] = [];
  xmlOutline(root, 0, lines);
  info.properties = { root: root.name, elements: 1 + countElements(root.children) };
  return [{ kind: 'body', index: 1, name: 'body', markdown: lines.join('\n') }];
}

const CONVERT: Partial<Record<DocumentType, (text: string, info: DocumentInfo) => Section[]>> = {
  json: convertJson,
  jsonl: convertJsonl,
  yaml: convertYaml,
  xml: convertXml,
};

export const converter: Converter = {
  types: ['json', 'jsonl', 'yaml', 'xml'],
  async convert(input, type): Promise<ConvertedDocument> {
    const convertText = CONVERT[type];
    if (!convertText) throw new FathomError('invalid_argument', `The data converter does not read ${type} files`);
    const text = type === 'xml' ? xmlText(input.bytes, input.mimeType) : decodeText(input.bytes, input.mimeType).text.replace(/^\uFEFF/, '');
    const info: DocumentInfo = { type, mimeType: MIME_OF[type] };
    const sections = convertText(text, info);
    if (info.notes?.length === 0) delete info.notes;
    return { info, sections };
  },
};
