import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as PdfJsModule from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { DocumentInfo } from '../types.js';
import { buildRows } from './layout.js';
import type { PdfPageText, Run } from './types.js';

export type PdfJs = typeof PdfJsModule;
export type PdfDocument = Awaited<ReturnType<PdfJs['getDocument']>['promise']>;
type TextItem = Extract<Awaited<ReturnType<Awaited<ReturnType<PdfDocument['getPage']>>['getTextContent']>>['items'][number], { str: string }>;

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

/** Opens a PDF with pdf.js: no fonts loaded, no scripts evaluated, nothing logged. */
export async function openPdf(bytes: Uint8Array) {
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
  return { pdfjs, task };
}

/** How far from a quarter turn, in quarter turns, an item may be set and still count as straight text. */
const STRAIGHT = 0.02;

/** Turns page coordinates (y down) so that text set in quarter-turn `k` reads left to right. */
const TURNS: ((x: number, y: number) => [number, number])[] = [(x, y) => [x, y], (x, y) => [y, -x], (x, y) => [-x, -y], (x, y) => [-y, x]];

/** One page's text as pdf.js reads it: rows in the page's main direction, the rest aside. */
export async function pageText(doc: PdfDocument, n: number): Promise<PdfPageText> {
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
    const straight = Math.abs(angle - turn) < STRAIGHT;
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

export /** Title, author, dates, outline and the other properties pdf.js reads from the file. */
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
