import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { isFathomError, liveChildren } from '@fathom/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/index.js';
import type { ConvertedDocument } from '../src/convert/index.js';
import { assemblePdf, convertPdfPages, extractPdf } from '../src/convert/pdf.js';
import { PopplerError, popplerPath, runPoppler } from '../src/convert/poppler.js';
import { greyPng } from '../../../tests/fixtures/png.js';
import { skipWithout } from '../../../tests/helpers.js';

interface PdfKitDocument {
  addPage(options?: object): PdfKitDocument;
  fontSize(size: number): PdfKitDocument;
  text(text: string, x?: number, y?: number, options?: object): PdfKitDocument;
  image(source: Buffer, x: number, y: number, options?: object): PdfKitDocument;
  rotate(angle: number, options?: object): PdfKitDocument;
  outline: { addItem(title: string): unknown };
  ref(data: object): { end(): void };
  page: { fonts: Record<string, unknown> };
  addContent(content: string): PdfKitDocument;
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


/**
 * A PDF written by hand, for what pdfkit cannot draw: each page a content stream over Helvetica
 * (/F1), optionally turned by a /Rotate entry.
 */
function handmade(pages: { content: string; rotate?: number }[]): Buffer {
  const objects: string[] = [];
  const add = (body: string) => objects.push(body);
  add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const parent = 2 + pages.length * 2;
  const kids = pages.map(({ content, rotate }) => {
    add(`<< /Length ${Buffer.byteLength(content)} >>\nstream\n${content}\nendstream`);
    const stream = objects.length;
    const turn = rotate ? ` /Rotate ${rotate}` : '';
    return add(`<< /Type /Page /Parent ${parent} 0 R /MediaBox [0 0 612 792]${turn} /Resources << /Font << /F1 1 0 R >> >> /Contents ${stream} 0 R >>`);
  });
  add(`<< /Type /Pages /Kids [${kids.map((kid) => `${kid} 0 R`).join(' ')}] /Count ${kids.length} >>`);
  const root = add(`<< /Type /Catalog /Pages ${parent} 0 R >>`);
  let out = '%PDF-1.4\n';
  const offsets = objects.map((body, i) => {
    const offset = Buffer.byteLength(out);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return offset;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root ${root} 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

const line = (x: number, y: number, text: string, mode = 0) => `BT /F1 12 Tf ${mode} Tr ${x} ${y} Td (${text}) Tj ET`;

/** Lower-cased words (letters and digits) as a multiset. */
function words(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

/** The share of `reference`'s words found in `output`; a word the output joined (a hyphenated one) counts where the output's words run together hold it. */
function coverage(reference: Map<string, number>, output: Map<string, number>): number {
  const joined = [...output.keys()].join('');
  let found = 0;
  let total = 0;
  for (const [word, count] of reference) {
    total += count;
    found += Math.min(count, output.get(word) ?? 0) || (joined.includes(word) ? count : 0);
  }
  return total ? found / total : 1;
}

const hasPoppler = popplerPath('pdftohtml') !== undefined;
const skipPoppler = skipWithout('poppler (pdftohtml, pdftotext)', hasPoppler, 'apt-get install poppler-utils, or run scripts/setup-system.sh');
const stations = ['Amber', 'Birch', 'Cedar', 'Dune', 'Elm', 'Fern', 'Grove', 'Heath', 'Iris', 'Juniper', 'Kestrel', 'Linden', 'Maple', 'Nettle'];
const columnWords = Array.from({ length: 150 }, (_, i) => `w${i}`);

let report: Buffer;
let encrypted: Buffer;
let scanned: Buffer;
let sideways: Buffer;
let long: Buffer;

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
  scanned = await render({ size: [200, 200] }, (doc) => doc.image(greyPng(40, 30), 20, 20, { width: 160 }));
  sideways = await render({ size: 'A4' }, (doc) => {
    doc.fontSize(9).text('Page caption', 72, 700, { lineBreak: false });
    doc.rotate(-90, { origin: [300, 420] }).fontSize(12);
    doc.text('Table 2: measured growth by sample', 100, 300, { lineBreak: false });
    const table = [['Sample', 'Growth'], ['alpha', '1.5'], ['beta', '2.25'], ['gamma', '3.75']];
    table.forEach((row, i) => row.forEach((cell, j) => doc.text(cell, 100 + j * 150, 340 + i * 16, { lineBreak: false })));
  });
  long = await render({ autoFirstPage: false }, (doc) => {
    stations.forEach((station, i) => {
      doc.addPage({ size: 'A5', margin: 50 });
      doc.fontSize(8).text('Field Notes', 50, 20, { lineBreak: false });
      doc.fontSize(11).text(`At ${station} station the river rose ${i * 3} centimetres overnight and the ferry waited.`, 50, 80, { width: 320 });
      doc.text(`${station} observers counted ${i * 7} herons along the bank before noon.`, 50, 130, { width: 320 });
      doc.fontSize(8).text(String(i + 1), 200, 560, { lineBreak: false });
    });
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

  it('reads the same document with poppler and with pdf.js (the fallback)', async () => {
    for (const bytes of [report, sideways, long]) {
      const [poppler, pdfjs] = await Promise.all([extractPdf(bytes), extractPdf(bytes, 1, Infinity, { engine: 'pdfjs' })]);
      expect(pdfjs.engine).toBe('pdfjs');
      expect(poppler.engine).toBe(hasPoppler ? 'poppler' : 'pdfjs');
      expect(assemblePdf([poppler])).toEqual(assemblePdf([pdfjs]));
    }
  });

  it.skipIf(skipPoppler)('shares a long page range among poppler processes and keeps the page order', async () => {
    const alone = await extractPdf(long, 1, Infinity, { processes: 1 });
    const shared = await extractPdf(long, 1, Infinity, { processes: 2 });
    expect(shared.engine).toBe('poppler');
    expect(shared.pages.map((page) => page.page)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    expect(shared).toEqual(alone);
    const document = assemblePdf([shared]);
    expect(document.sections[13]!.markdown).toBe(
      '<!-- page 14 -->\n\nAt Nettle station the river rose 39 centimetres overnight and the\nferry waited.\n\nNettle observers counted 91 herons along the bank before noon.',
    );
    const middle = await extractPdf(long, 5, 12, { processes: 2 });
    expect(middle.pages).toEqual(alone.pages.slice(4, 12));
    expect(liveChildren()).toBe(0);
  });

  it.skipIf(skipPoppler)("has pdftotext's words, the running lines aside", async () => {
    for (const bytes of [report, long]) {
      let plain = '';
      await runPoppler({
        tool: 'pdftotext',
        args: ['-enc', 'UTF-8', '-', '-'],
        stdin: bytes,
        first: 1,
        last: (await extractPdf(bytes)).pageCount,
        pageEnd: '\f',
        onPage: (_, text) => {
          plain += text.replace(/^\s*(ACME Quarterly Review|Field Notes)\s*$|^\s*\d+\s*$/gm, '') + '\n';
        },
      });
      const markdown = markdownOf(await convert({ bytes, name: 'file.pdf' }));
      expect(coverage(words(plain), words(markdown))).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('reads invisible text (an OCR layer) and a page turned by its /Rotate entry', async () => {
    const bytes = handmade([
      { content: [line(72, 700, 'Invisible words from an OCR layer', 3), line(72, 680, 'Visible words follow')].join('\n') },
      { content: [line(72, 700, 'A page turned by its Rotate entry'), line(72, 680, 'and its second line')].join('\n'), rotate: 90 },
    ]);
    for (const engine of ['auto', 'pdfjs'] as const) {
      const document = assemblePdf([await extractPdf(bytes, 1, Infinity, { engine })]);
      expect(document.sections.map((section) => section.markdown)).toEqual([
        '<!-- page 1 -->\n\nInvisible words from an OCR layer\nVisible words follow',
        '<!-- page 2 -->\n\nA page turned by its Rotate entry\nand its second line',
      ]);
    }
  });

  it('keeps ©, accents, dashes and curly quotes, and reads the © TeX draws as a circle around a c', async () => {
    const bytes = await render({ info: { Title: 'Symbols' } }, (doc) => {
      doc.fontSize(12).text('© 2024 Café Société — “quoted words” and ‘single’ ones.', 72, 72);
      const font = (data: object) => {
        const ref = doc.ref(data);
        ref.end();
        return ref;
      };
      // TeX's \copyright: a circle from a symbol font whose glyphs name no characters (CMSY's
      // "circlecopyrt"), and a "c" from the text font set inside it.
      doc.page.fonts.FT = font({ Type: 'Font', Subtype: 'Type1', BaseFont: 'Times-Roman', Encoding: 'WinAnsiEncoding' });
      doc.page.fonts.FC = font({ Type: 'Font', Subtype: 'Type1', BaseFont: 'Times-Roman', Encoding: { Type: 'Encoding', Differences: [13, 'circlecopyrt'] } });
      // pdfkit's page runs top down; each text matrix turns the text upright again.
      doc.addContent('BT /FT 12 Tf 1 0 0 -1 72 120 Tm (Copyright ) Tj ET');
      doc.addContent('BT /FC 12 Tf 1 0 0 -1 125 120 Tm <0D> Tj ET');
      doc.addContent('BT /FT 12 Tf 1 0 0 -1 128 120 Tm (c) Tj ET');
      doc.addContent('BT /FT 12 Tf 1 0 0 -1 138 120 Tm (2001\\2262022 Free Software Foundation, Inc.) Tj ET');
    });
    for (const engine of ['auto', 'pdfjs'] as const) {
      const markdown = assemblePdf([await extractPdf(bytes, 1, Infinity, { engine })]).sections[0]!.markdown;
      expect(markdown, engine).toBe('<!-- page 1 -->\n\n© 2024 Café Société — “quoted words” and ‘single’ ones.\n\nCopyright © 2001–2022 Free Software Foundation, Inc.');
    }
  });

  it.skipIf(skipPoppler)('tells an encrypted PDF from a damaged one when poppler fails', async () => {
    const failure = (bytes: Uint8Array) =>
      runPoppler({ tool: 'pdftotext', args: ['-', '-'], stdin: bytes, first: 1, last: 1, pageEnd: '\f', onPage: () => undefined }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
    const locked = await failure(encrypted);
    expect(locked).toBeInstanceOf(PopplerError);
    expect(locked).toMatchObject({ reason: 'encrypted' });
    expect(await failure(report.subarray(0, report.byteLength >> 1))).toMatchObject({ reason: 'damaged' });
    expect(liveChildren()).toBe(0);
  });

  it('leaves PDFs to pdf.js when FATHOM_PDFTOTEXT is off', () => {
    // The switch is read once per process: a process of its own reads the built module.
    const module = new URL('../dist/convert/pdf.js', import.meta.url).href;
    const bytes = handmade([{ content: line(72, 700, 'Switched reader') }]).toString('base64');
    const script = `const { extractPdf } = await import(${JSON.stringify(module)}); console.log((await extractPdf(Buffer.from('${bytes}', 'base64'))).engine);`;
    const engine = (setting: string) =>
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, FATHOM_PDFTOTEXT: setting }, encoding: 'utf8' }).trim();
    expect(engine('off')).toBe('pdfjs');
    expect(engine('')).toBe(hasPoppler ? 'poppler' : 'pdfjs');
  });
});
