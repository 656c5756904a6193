import { createRequire } from 'node:module';
import { crc32, deflateSync } from 'node:zlib';
import { isFathomError } from '@fathom/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/index.js';
import type { ConvertedDocument } from '../src/convert/index.js';
import { assemblePdf, convertPdfPages, extractPdf } from '../src/convert/pdf.js';

interface PdfKitDocument {
  addPage(options?: object): PdfKitDocument;
  fontSize(size: number): PdfKitDocument;
  text(text: string, x?: number, y?: number, options?: object): PdfKitDocument;
  image(source: Buffer, x: number, y: number, options?: object): PdfKitDocument;
  rotate(angle: number, options?: object): PdfKitDocument;
  outline: { addItem(title: string): unknown };
  on(event: 'data', listener: (chunk: Buffer) => void): void;
  on(event: 'end', listener: () => void): void;
  end(): void;
}
const PDFDocument = createRequire(import.meta.url)('pdfkit') as new (options?: object) => PdfKitDocument;

function render(options: object, draw: (doc: PdfKitDocument) => void): Promise<Buffer> {
  const doc = new PDFDocument(options);
  const chunks: Buffer[] = [];
  doc.on('data', (chunk) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));
  draw(doc);
  doc.end();
  return done;
}

/** A grey-level PNG, so a page can hold an image and no text. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const frame = Buffer.alloc(8 + data.length + 4);
    frame.writeUInt32BE(data.length, 0);
    body.copy(frame, 4);
    frame.writeUInt32BE(crc32(body), 8 + data.length);
    return frame;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth; colour type 0 (grey)
  const pixels = Buffer.alloc((width + 1) * height, 0x80);
  for (let y = 0; y < height; y++) pixels[y * (width + 1)] = 0; // filter byte
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(pixels)), chunk('IEND', Buffer.alloc(0))]);
}

const columnWords = Array.from({ length: 150 }, (_, i) => `w${i}`);

let report: Buffer;
let encrypted: Buffer;
let scanned: Buffer;
let sideways: Buffer;

beforeAll(async () => {
  const info = { Title: 'Quarterly Review', Author: 'Ada Lovelace', CreationDate: new Date('2024-03-05T10:20:30Z'), ModDate: new Date('2024-04-01T08:00:00Z') };
  const bodies: ((doc: PdfKitDocument) => void)[] = [
    (doc) => {
      doc.text('Opening remarks on the harvest and the rains.', 72, 100);
      doc.text('This report collects the informa-', 72, 130);
      doc.text('tion gathered during the season, after the Franco-', 72, 145);
      doc.text('Prussian archive was opened.', 72, 160);
      const table = [
        ['Crop', 'Tonnes', 'Price'],
        ['Rice', '120', '3.40'],
        ['Millet', '45', '2.10'],
        ['Barley', '7', '5.75'],
      ];
      table.forEach((row, i) => row.forEach((cell, j) => doc.text(cell, 72 + j * 130, 200 + i * 18, { lineBreak: false })));
      doc.text('After the table the prose continues in an ordinary sentence.', 72, 290);
    },
    (doc) => doc.text(columnWords.join(' '), 72, 100, { columns: 2, columnGap: 24, width: 451, height: 170 }),
    (doc) => {
      doc.text('Closing notes: the delta flooded twice.', 72, 100);
      doc.text('A second paragraph follows after a gap.', 72, 160);
    },
  ];
  report = await render({ autoFirstPage: false, info }, (doc) => {
    bodies.forEach((body, i) => {
      doc.addPage({ size: 'A4', margin: 72 });
      doc.outline.addItem(`Part ${i + 1}`);
      doc.fontSize(9).text('ACME Quarterly Review', 72, 40, { lineBreak: false });
      body(doc.fontSize(12));
      doc.fontSize(9).text(String(i + 1), 290, 790, { lineBreak: false });
    });
  });
  encrypted = await render({ userPassword: 'secret', ownerPassword: 'owner' }, (doc) => doc.text('Hidden words'));
  scanned = await render({ size: [200, 200] }, (doc) => doc.image(png(40, 30), 20, 20, { width: 160 }));
  sideways = await render({ size: 'A4' }, (doc) => {
    doc.fontSize(9).text('Page caption', 72, 700, { lineBreak: false });
    doc.rotate(-90, { origin: [300, 420] }).fontSize(12);
    doc.text('Table 2: measured growth by sample', 100, 300, { lineBreak: false });
    const table = [['Sample', 'Growth'], ['alpha', '1.5'], ['beta', '2.25'], ['gamma', '3.75']];
    table.forEach((row, i) => row.forEach((cell, j) => doc.text(cell, 100 + j * 150, 340 + i * 16, { lineBreak: false })));
  });
});

const markdownOf = (document: ConvertedDocument) => document.sections.map((section) => section.markdown).join('\n\n');

async function failure(bytes: Uint8Array) {
  const error: unknown = await convert({ bytes, name: 'file.pdf' }).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isFathomError(error, 'invalid_argument')).toBe(true);
  return error as Error & { hint?: string };
}

describe('PDF converter', () => {
  it('gives one page section per page, each starting with its marker', async () => {
    const document = await convert({ bytes: report, name: 'report.pdf' });
    expect(document.sections.map((s) => [s.kind, s.index, s.name])).toEqual([
      ['page', 1, '1'],
      ['page', 2, '2'],
      ['page', 3, '3'],
    ]);
    document.sections.forEach((section, i) => expect(section.markdown.startsWith(`<!-- page ${i + 1} -->\n`)).toBe(true));
    const third = document.sections[2]!.markdown;
    expect(third).toContain('Closing notes: the delta flooded twice.\n\nA second paragraph follows after a gap.');
  });

  it('reads the metadata and outline', async () => {
    const { info } = await convert({ bytes: report, name: 'report.pdf' });
    expect(info).toMatchObject({
      type: 'pdf',
      mimeType: 'application/pdf',
      title: 'Quarterly Review',
      author: 'Ada Lovelace',
      created: '2024-03-05T10:20:30.000Z',
      modified: '2024-04-01T08:00:00.000Z',
      pages: 3,
      outline: ['Part 1', 'Part 2', 'Part 3'],
    });
    expect(info.notes).toBeUndefined();
  });

  it('drops the running header and page numbers, joins hyphenated words, keeps compounds', async () => {
    const document = await convert({ bytes: report, name: 'report.pdf' });
    const markdown = markdownOf(document);
    expect(markdown).not.toContain('ACME Quarterly Review');
    for (const section of document.sections) expect(section.markdown).not.toMatch(/^\d+$/m);
    expect(markdown).toContain('This report collects the information\ngathered during the season, after the Franco-Prussian\narchive was opened.');
    expect(markdown).not.toContain('informa-');
  });

  it('renders column-aligned rows as a table, and prose stays prose', async () => {
    const document = await convert({ bytes: report, name: 'report.pdf' });
    const first = document.sections[0]!;
    expect(first.markdown).toContain(['| Crop | Tonnes | Price |', '| --- | --- | --- |', '| Rice | 120 | 3.40 |', '| Millet | 45 | 2.10 |', '| Barley | 7 | 5.75 |'].join('\n'));
    expect(first.tables).toEqual([
      {
        location: 'page 1',
        header: ['Crop', 'Tonnes', 'Price'],
        rows: [
          ['Rice', '120', '3.40'],
          ['Millet', '45', '2.10'],
          ['Barley', '7', '5.75'],
        ],
      },
    ]);
    const order = ['Opening remarks', 'This report collects', '| Crop |', 'After the table the prose continues'].map((text) => first.markdown.indexOf(text));
    expect(order.every((position, i) => position >= 0 && (i === 0 || position > order[i - 1]!))).toBe(true);
    for (const section of document.sections.slice(1)) expect(section.tables).toBeUndefined();
  });

  it('reads two text columns one after the other', async () => {
    const document = await convert({ bytes: report, name: 'report.pdf' });
    const words = document.sections[1]!.markdown.replace(/<!-- page 2 -->/, '').split(/\s+/).filter(Boolean);
    expect(words).toEqual(columnWords);
  });

  it('converts a page range, and page ranges extracted apart join into the same document', async () => {
    const whole = await convert({ bytes: report, name: 'report.pdf' });
    const range = await convertPdfPages(report, 2, 3);
    expect(range.sections.map((section) => section.index)).toEqual([2, 3]);
    expect(range.info.pages).toBe(3);
    const parts = await Promise.all([extractPdf(report, 1, 1), extractPdf(report, 2, 3)]);
    expect(assemblePdf(parts)).toEqual(whole);
    expect(report.byteLength).toBeGreaterThan(0); // the caller's bytes are not handed over to pdf.js
  });

  it('reads a page set sideways in its own direction', async () => {
    const document = await convert({ bytes: sideways, name: 'sideways.pdf' });
    expect(document.sections[0]!.markdown).toBe(
      ['<!-- page 1 -->', 'Table 2: measured growth by sample', '| Sample | Growth |\n| --- | --- |\n| alpha | 1.5 |\n| beta | 2.25 |\n| gamma | 3.75 |', 'Page caption'].join('\n\n'),
    );
    expect(document.sections[0]!.tables?.[0]?.rows).toEqual([['alpha', '1.5'], ['beta', '2.25'], ['gamma', '3.75']]);
  });

  it('notes a PDF without a text layer on the document and on each page', async () => {
    const document = await convert({ bytes: scanned, name: 'scan.pdf' });
    expect(document.info.notes).toEqual(['This PDF has no text layer (it is scanned images); its text cannot be read without OCR.']);
    expect(document.sections).toHaveLength(1);
    expect(document.sections[0]!.markdown).toMatch(/^<!-- page 1 -->\n\n_\(Scanned page: no text layer; OCR is needed to read it\.\)_$/);
  });

  it('refuses an encrypted PDF with a plain message', async () => {
    const error = await failure(encrypted);
    expect(error.message).toBe('Encrypted PDF: a password is needed to read it');
    expect(error.hint).toMatch(/unencrypted copy/);
  });

  it('refuses a truncated PDF and random bytes behind a PDF header', async () => {
    const truncated = await failure(report.subarray(0, report.byteLength >> 1));
    expect(truncated.message).toMatch(/^Corrupt PDF: the file is truncated/);
    expect(truncated.hint).toMatch(/truncated or damaged; download it again/);
    const noise = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) % 251));
    const garbage = await failure(Buffer.concat([Buffer.from('%PDF-1.7\n'), noise, Buffer.from('\n%%EOF\n')]));
    expect(garbage.message).toMatch(/^Corrupt PDF: its structure is invalid/);
    expect(garbage.hint).toMatch(/download it again/);
  });
});
