import type { DocumentInfo } from '../types.js';

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

/** A piece of text as a reader places it: its baseline y (down from the page top), x span and font size, in PDF points. */
export interface Run {
  x: number;
  end: number;
  y: number;
  size: number;
  text: string;
}
