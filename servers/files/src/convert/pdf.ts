import { FathomError } from '@fathom/core';
import { documentInfo, openPdf, pageText } from './pdf/pdfjs.js';
import { popplerPages } from './pdf/poppler-pages.js';
import { assemblePdf } from './pdf/render.js';
import type { PdfExtract, PdfExtractOptions, PdfPageText } from './pdf/types.js';
import { popplerPath } from './poppler.js';
import type { ConvertedDocument, ConvertInput, ConvertOptions, Converter } from './types.js';

export { assemblePdf } from './pdf/render.js';
export type * from './pdf/types.js';

const CORRUPT_HINT = 'The file may be truncated or damaged; download it again or ask for a fresh copy.';

/**
 * Reads the text of pages `firstPage`..`lastPage` (1-based, clamped). Several calls on page ranges
 * of one file can run in worker threads; `assemblePdf` joins their results. pdf.js opens the file
 * (errors, page count, metadata, outline); the page text comes from poppler when it is there,
 * several times faster than pdf.js's `getTextContent`, else from pdf.js.
 */
export async function extractPdf(bytes: Uint8Array, firstPage = 1, lastPage = Infinity, options: PdfExtractOptions = {}): Promise<PdfExtract> {
  const { pdfjs, task } = await openPdf(bytes);
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
