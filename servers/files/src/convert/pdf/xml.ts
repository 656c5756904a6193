import { decodeHtmlEntities } from '@fathom/core';
import { buildRows } from './layout.js';
import type { PdfPageText, Run } from './types.js';

/** pdftohtml's coordinates are in pixels at this zoom: font sizes come rounded to whole pixels. */
export const XML_ZOOM = 2;
/** A typical font's descent below the baseline, in font sizes. */
const DESCENT = 0.21;
/** Most lone characters with no width a page may hold (overlays, like the stroke of ≠) before it counts as set at an angle. */
const MAX_OVERLAYS = 2;

/** A `<text>` element's content: inner markup (bold, links) dropped, entities decoded. */
function xmlText(inner: string): string {
  return decodeHtmlEntities(inner.includes('<') ? inner.replace(/<[^>]*>/g, '') : inner);
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
export function xmlPage(page: number, xml: string, fonts: Map<number, number>): PdfPageText | undefined {
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
    if (width <= 0 && (text.trim().length > 1 || ++widthless > MAX_OVERLAYS)) return undefined;
    const x = left / XML_ZOOM;
    const h = height / XML_ZOOM;
    const size = fonts.get(font) || h;
    // The box runs from the font's ascent to its descent; descents vary less than ascents.
    runs.push({ x, end: x + width / XML_ZOOM, y: (top + height) / XML_ZOOM - DESCENT * size, size, text });
  }
  return { page, rows: buildRows(runs), aside: [] };
}
