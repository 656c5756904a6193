import { FathomError } from '@fathom/core';
import { jsonProblem } from './data.js';
import { fence } from './markdown.js';
import { MAX_NESTING, jsonDepth, tooDeep } from './nesting.js';
import { decodeText } from './decode.js';
import { htmlToMarkdown } from './html.js';
import type { ConvertedDocument, Converter, Table } from './types.js';

const MAX_OUTPUT_LINES = 200;

type Multiline = string | string[] | undefined;

interface RawOutput {
  output_type?: string;
  name?: string;
  stream?: string;
  text?: Multiline;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  [key: string]: unknown;
}

interface RawCell {
  cell_type?: string;
  source?: Multiline;
  input?: Multiline;
  level?: number;
  outputs?: RawOutput[];
}

interface Notebook {
  nbformat?: number;
  nbformat_minor?: number;
  metadata?: {
    title?: string;
    language?: string;
    kernelspec?: { language?: string; display_name?: string; name?: string };
    language_info?: { name?: string };
  };
  cells?: RawCell[];
  worksheets?: { cells?: RawCell[] }[];
}

/** nbformat 3 put each representation on the output under a short name. */
const V3_MIME: Record<string, string> = {
  text: 'text/plain',
  html: 'text/html',
  markdown: 'text/markdown',
  latex: 'text/latex',
  png: 'image/png',
  jpeg: 'image/jpeg',
  svg: 'image/svg+xml',
  json: 'application/json',
  javascript: 'application/javascript',
};

function joined(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join('');
  return typeof value === 'string' ? value : '';
}

function corrupt(reason: string): FathomError {
  return new FathomError('invalid_argument', `Corrupt notebook: ${reason}`, {
    hint: 'The .ipynb file must be the JSON Jupyter saves; re-save the notebook or read the file as text.',
  });
}

const ESC = String.fromCharCode(27);
const BEL = String.fromCharCode(7);
const ANSI = [
  new RegExp(`${ESC}\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)`, 'g'),
  new RegExp(`${ESC}\\[[0-9;?]*[ -/]*[@-~]`, 'g'),
  new RegExp(`${ESC}[@-_]`, 'g'),
];

/** Terminal text as it last looked: ANSI escapes gone, carriage-return overwrites applied. */
function terminalText(text: string): string {
  return ANSI.reduce((clean, pattern) => clean.replace(pattern, ''), text)
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => line.split('\r').filter(Boolean).at(-1) ?? '')
    .join('\n');
}

function capped(text: string): string {
  const lines = text.trimEnd().split('\n');
  if (lines.length <= MAX_OUTPUT_LINES) return lines.join('\n');
  return [...lines.slice(0, MAX_OUTPUT_LINES), `… ${lines.length - MAX_OUTPUT_LINES} more lines`].join('\n');
}

/** Markdown written by hand may still inline images as data: URIs. */
function withoutDataUris(markdown: string): string {
  return markdown.replace(/data:[\w.+-]+\/[\w.+-]+(?:;[\w=-]+)*;base64,[A-Za-z0-9+/=\s]+/g, 'embedded image');
}

function mimeBundle(output: RawOutput): Record<string, string> {
  const bundle: Record<string, string> = {};
  if (output.data && typeof output.data === 'object') {
    for (const [mime, value] of Object.entries(output.data)) bundle[mime] = typeof value === 'object' && !Array.isArray(value) ? JSON.stringify(value) : joined(value);
  } else {
    for (const [key, mime] of Object.entries(V3_MIME)) if (output[key] !== undefined) bundle[mime] = joined(output[key]);
  }
  return bundle;
}

class CellWriter {
  readonly parts: string[] = [];
  readonly tables: Table[] = [];
  private pending: string[] = [];

  constructor(private readonly cell: number) {}

  text(text: string): void {
    this.pending.push(terminalText(text).trimEnd());
  }

  block(markdown: string): void {
    this.flush();
    if (markdown.trim()) this.parts.push(markdown.trim());
  }

  html(html: string): void {
    const result = htmlToMarkdown(html, { mainContent: false });
    for (const table of result.tables) this.tables.push({ ...table, location: `cell ${this.cell}, ${table.location}` });
    this.block(result.markdown);
  }

  flush(): void {
    const text = this.pending.join('\n');
    this.pending = [];
    if (text.trim()) this.parts.push(fence(capped(text), 'output'));
  }

  output(output: RawOutput): void {
    const type = output.output_type;
    if (type === 'stream') return this.text(joined(output.text));
    if (type === 'error' || type === 'pyerr') {
      const headline = `${output.ename ?? 'Error'}: ${output.evalue ?? ''}`.trim();
      const traceback = terminalText((output.traceback ?? []).join('\n')).trim();
      return this.text(traceback.includes(headline) ? traceback : [traceback, headline].filter(Boolean).join('\n'));
    }
    const bundle = mimeBundle(output);
    const mimes = Object.keys(bundle);
    const image = mimes.find((mime) => mime.startsWith('image/'));
    const html = bundle['text/html'];
    if (image) this.block(`[image output: ${image}]`);
    else if (html !== undefined && /<table[\s>]/i.test(html)) this.html(html);
    else if (bundle['text/markdown'] !== undefined) this.block(withoutDataUris(bundle['text/markdown']));
    else if (bundle['text/plain'] !== undefined) this.text(bundle['text/plain']);
    else if (html !== undefined && htmlToMarkdown(html, { mainContent: false }).markdown) this.html(html);
    else if (bundle['text/latex'] !== undefined) this.block(bundle['text/latex']);
    else if (mimes[0]) this.block(`[output: ${mimes[0]}]`);
  }
}

function withoutClosingHashes(heading: string): string {
  let text = heading.trimEnd();
  while (text.endsWith('#')) text = text.slice(0, -1);
  return text.trimEnd() || heading.trim();
}

function headingsOf(markdown: string): string[] {
  const headings: string[] = [];
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const match = !inFence && /^(#{1,3})\s+(\S.*)$/.exec(line);
    if (match) headings.push(`${match[1]!.length}:${withoutClosingHashes(match[2]!)}`);
  }
  return headings;
}

export const converter: Converter = {
  types: ['ipynb'],
  async convert(input): Promise<ConvertedDocument> {
    const text = decodeText(input.bytes, input.mimeType).text.replace(/^\uFEFF/, '');
    if (jsonDepth(text) > MAX_NESTING) throw tooDeep('The notebook');
    let notebook: Notebook;
    try {
      notebook = JSON.parse(text) as Notebook;
    } catch (error) {
      throw corrupt(`the JSON is malformed: ${jsonProblem(text, error)}`);
    }
    if (typeof notebook !== 'object' || notebook === null) throw corrupt('it is not a JSON object');
    const cells = Array.isArray(notebook.cells)
      ? notebook.cells
      : Array.isArray(notebook.worksheets)
        ? notebook.worksheets.flatMap((sheet) => (Array.isArray(sheet?.cells) ? sheet.cells : []))
        : undefined;
    if (!cells) throw corrupt('it has no list of cells (is it a Jupyter notebook?)');

    const metadata = notebook.metadata ?? {};
    const language =
      metadata.kernelspec?.language ?? metadata.language_info?.name ?? metadata.language ?? (notebook.nbformat === 3 ? 'python' : undefined);
    const parts: string[] = [];
    const tables: Table[] = [];
    const headings: string[] = [];
    let codeCells = 0;
    cells.forEach((cell, i) => {
      if (typeof cell !== 'object' || cell === null) return;
      const source = joined(cell.source ?? cell.input);
      if (cell.cell_type === 'markdown' || cell.cell_type === 'heading') {
        const markdown = cell.cell_type === 'heading' ? `${'#'.repeat(Math.min(Math.max(cell.level ?? 1, 1), 6))} ${source}` : source;
        if (markdown.trim()) parts.push(withoutDataUris(markdown.trim()));
        headings.push(...headingsOf(markdown));
      } else if (cell.cell_type === 'code') {
        codeCells++;
        const writer = new CellWriter(i + 1);
        writer.block(fence(source, language ?? ''));
        for (const output of Array.isArray(cell.outputs) ? cell.outputs : []) if (output && typeof output === 'object') writer.output(output);
        writer.flush();
        parts.push(...writer.parts);
        tables.push(...writer.tables);
      } else if (source.trim()) {
        parts.push(source.trim());
      }
    });

    const title = metadata.title ?? headings.find((heading) => heading.startsWith('1:'))?.slice(2);
    const kernel = metadata.kernelspec?.display_name;
    const version = notebook.nbformat === undefined ? undefined : `${notebook.nbformat}${notebook.nbformat_minor === undefined ? '' : `.${notebook.nbformat_minor}`}`;
    return {
      info: {
        type: 'ipynb',
        mimeType: 'application/x-ipynb+json',
        ...(title ? { title } : {}),
        outline: headings.map((heading) => heading.slice(2)),
        properties: {
          cells: cells.length,
          codeCells,
          ...(language ? { language } : {}),
          ...(kernel ? { kernel } : {}),
          ...(version ? { nbformat: version } : {}),
        },
      },
      sections: [{ kind: 'body', index: 1, name: 'body', markdown: parts.join('\n\n'), tables }],
    };
  },
};
