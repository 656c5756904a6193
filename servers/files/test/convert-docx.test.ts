import * as docx from 'docx';
import JSZip from 'jszip';
import { beforeAll, describe, expect, it } from 'vitest';
import { converter } from '../src/convert/docx.js';
import { convert, DEFAULT_OPTIONS, renderMarkdown } from '../src/convert/index.js';
import type { ConvertedDocument } from '../src/convert/index.js';
import { ommlToLatex, parseXml } from '../src/convert/ooxml.js';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const { Paragraph, TextRun, HeadingLevel, Table, TableRow, TableCell } = docx;

const cellOf = (text: string) => new TableCell({ children: [new Paragraph(text)] });

async function buildDocx(): Promise<Uint8Array> {
  const document = new docx.Document({
    title: 'Quarterly Report',
    creator: 'Ada Lovelace',
    footnotes: { 1: { children: [new Paragraph('Source: the annual survey.')] } },
    endnotes: { 1: { children: [new Paragraph('Figures are unaudited.')] } },
    comments: {
      children: [{ id: 0, author: 'Grace Hopper', initials: 'GH', date: new Date('2024-01-02T00:00:00Z'), children: [new Paragraph('Check this figure.')] }],
    },
    sections: [
      {
        children: [
          new Paragraph({ text: 'Introduction', heading: HeadingLevel.HEADING_1 }),
          new Paragraph({ children: [new TextRun('Revenue grew strongly'), new docx.FootnoteReferenceRun(1), new TextRun(' this year.')] }),
          new Paragraph({ children: [new TextRun('Costs were flat'), new docx.EndnoteReferenceRun(1), new TextRun('.')] }),
          new Paragraph({
            children: [
              new docx.CommentRangeStart(0),
              new TextRun('Profit rose 12%'),
              new docx.CommentRangeEnd(0),
              new TextRun({ children: [new docx.CommentReference(0)] }),
            ],
          }),
          new Paragraph({ text: 'Details', heading: HeadingLevel.HEADING_2 }),
          new Paragraph({ text: 'First point', bullet: { level: 0 } }),
          new Paragraph({ text: 'Nested point', bullet: { level: 1 } }),
          new Paragraph({ text: 'Second point', bullet: { level: 0 } }),
          new Paragraph({
            children: [
              new TextRun('See '),
              new docx.ExternalHyperlink({ link: 'https://example.com/report', children: [new TextRun({ text: 'the full report', style: 'Hyperlink' })] }),
              new TextRun('.'),
            ],
          }),
          new Table({
            rows: [
              new TableRow({ tableHeader: true, children: [cellOf('Region'), cellOf('Sales')] }),
              new TableRow({ children: [cellOf('North'), cellOf('1,200')] }),
              new TableRow({ children: [cellOf('South'), cellOf('950')] }),
            ],
          }),
          new Paragraph({
            children: [
              new TextRun('Inline math: '),
              new docx.Math({ children: [new docx.MathFraction({ numerator: [new docx.MathRun('a')], denominator: [new docx.MathRun('b')] })] }),
              new TextRun(' and '),
              new docx.Math({ children: [new docx.MathSuperScript({ children: [new docx.MathRun('x')], superScript: [new docx.MathRun('2')] })] }),
              new TextRun('.'),
            ],
          }),
          new Paragraph({
            children: [
              new docx.Math({
                children: [
                  new docx.MathRadical({ children: [new docx.MathRun('y+1')] }),
                  new docx.MathRun('≤'),
                  new docx.MathSum({
                    children: [new docx.MathSubScript({ children: [new docx.MathRun('x')], subScript: [new docx.MathRun('i')] })],
                    subScript: [new docx.MathRun('i=1')],
                    superScript: [new docx.MathRun('n')],
                  }),
                  new docx.MathRun('α'),
                ],
              }),
            ],
          }),
          new Paragraph({
            children: [
              new docx.ImageRun({
                type: 'png',
                data: PNG,
                transformation: { width: 10, height: 10 },
                altText: { title: 'Logo', description: 'Company logo', name: 'logo' },
              }),
            ],
          }),
        ],
      },
    ],
  });
  const bytes = await docx.Packer.toBuffer(document);
  // Word writes a displayed equation as m:oMathPara; the generator only writes inline m:oMath.
  const zip = await JSZip.loadAsync(bytes);
  const xml = await zip.file('word/document.xml')!.async('string');
  zip.file('word/document.xml', xml.replace(/<w:p>(<m:oMath>[\s\S]*?<\/m:oMath>)<\/w:p>/, '<w:p><m:oMathPara>$1</m:oMathPara></w:p>'));
  return zip.generateAsync({ type: 'uint8array' });
}

describe('DOCX converter', () => {
  let bytes: Uint8Array;
  let document: ConvertedDocument;
  let markdown: string;

  beforeAll(async () => {
    bytes = await buildDocx();
    document = await convert({ bytes, name: 'report.docx' });
    markdown = renderMarkdown(document);
  });

  it('keeps headings, nested lists and links', () => {
    expect(document.info.type).toBe('docx');
    expect(markdown).toMatch(/^# Introduction$/m);
    expect(markdown).toMatch(/^## Details$/m);
    expect(markdown).toMatch(/^-\s+First point\n {2,}-\s+Nested point\n-\s+Second point$/m);
    expect(markdown).toContain('[the full report](https://example.com/report)');
    expect(document.info.outline).toEqual(['Introduction', 'Details']);
  });

  it('keeps tables as GFM tables and in section.tables', () => {
    expect(markdown).toMatch(/\| Region \| Sales \|\n\| -+ \| -+ \|\n\| North \| 1,200 \|\n\| South \| 950 \|/);
    expect(document.sections[0]!.tables).toEqual([{ location: 'table 1', header: ['Region', 'Sales'], rows: [['North', '1,200'], ['South', '950']] }]);
  });

  it('writes equations as LaTeX', () => {
    expect(markdown).toContain('Inline math: $\\frac{a}{b}$ and $x^{2}$.');
    expect(markdown).toMatch(/^\$\$\\sqrt\{y\+1\}\\leq \\sum_\{i=1\}\^\{n\} x_\{i\}\\alpha\$\$$/m);
    expect(document.info.properties?.equations).toBe(3);
  });

  it('turns footnotes and endnotes into markdown footnotes', () => {
    expect(markdown).toContain('Revenue grew strongly[^1] this year.');
    expect(markdown).toContain('Costs were flat[^e1].');
    expect(markdown).toMatch(/^\[\^1\]: Source: the annual survey\.$/m);
    expect(markdown).toMatch(/^\[\^e1\]: Figures are unaudited\.$/m);
    expect(markdown).not.toContain('↑');
    expect(markdown).not.toContain('#footnote');
  });

  it('lists comments with author and the commented text', () => {
    expect(markdown).toMatch(/^## Comments\n\n- \*\*Grace Hopper\*\* \(2024-01-02\) on "Profit rose 12%": Check this figure\.$/m);
  });

  it('writes image placeholders with alt text, never inline data', () => {
    expect(markdown).toContain('![Company logo](image1.png)');
    expect(markdown).not.toMatch(/base64|data:/);
    expect(markdown).not.toMatch(/<\/?[a-z]+:|\uE000/);
  });

  it('reads title, author and dates from the core properties', () => {
    expect(document.info.title).toBe('Quarterly Report');
    expect(document.info.author).toBe('Ada Lovelace');
    expect(document.info.created).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(document.info.modified).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it('refuses corrupt, truncated, encrypted and legacy files with a plain message', async () => {
    const attempt = (input: Uint8Array) => converter.convert({ bytes: input, name: 'x.docx' }, 'docx', DEFAULT_OPTIONS, convert);
    await expect(attempt(new TextEncoder().encode('this is not a zip'))).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Corrupt DOCX: /),
    });
    await expect(attempt(bytes.subarray(0, Math.floor(bytes.length / 2)))).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Corrupt DOCX: /),
    });
    const empty = new JSZip();
    empty.file('readme.txt', 'hello');
    await expect(attempt(await empty.generateAsync({ type: 'uint8array' }))).rejects.toMatchObject({
      code: 'invalid_argument',
      message: 'Corrupt DOCX: the archive has no word/document.xml',
    });
    const damaged = await JSZip.loadAsync(bytes);
    damaged.file('word/document.xml', '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>cut off');
    await expect(attempt(await damaged.generateAsync({ type: 'uint8array' }))).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Corrupt DOCX: its content cannot be read/),
    });
    const ole = Buffer.alloc(2048);
    Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(ole);
    await expect(attempt(ole)).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/legacy Word 97-2003/) });
    Buffer.from('EncryptedPackage', 'utf16le').copy(ole, 1024);
    await expect(attempt(ole)).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^Encrypted DOCX: a password/) });
  });
});

describe('OMML to LaTeX', () => {
  const latex = (body: string) =>
    ommlToLatex(parseXml(`<m:oMath xmlns:m="http://schemas.openxmlformats.org/officeDocument/2006/math">${body}</m:oMath>`).children[0]!);
  const run = (text: string) => `<m:r><m:t>${text}</m:t></m:r>`;

  it('covers delimiters, matrices, functions, integrals, accents and bars', () => {
    expect(latex(`<m:d><m:dPr><m:begChr m:val="["/><m:endChr m:val="]"/></m:dPr><m:e>${run('a')}</m:e><m:e>${run('b')}</m:e></m:d>`)).toBe(
      '\\left[a | b\\right]',
    );
    expect(latex(`<m:m><m:mr><m:e>${run('1')}</m:e><m:e>${run('0')}</m:e></m:mr><m:mr><m:e>${run('0')}</m:e><m:e>${run('1')}</m:e></m:mr></m:m>`)).toBe(
      '\\begin{matrix}1 & 0 \\\\ 0 & 1\\end{matrix}',
    );
    expect(latex(`<m:func><m:fName>${run('sin')}</m:fName><m:e>${run('θ')}</m:e></m:func>`)).toBe('\\sin \\theta');
    expect(latex(`<m:nary><m:sub>${run('0')}</m:sub><m:sup>${run('∞')}</m:sup><m:e>${run('f(x)dx')}</m:e></m:nary>`)).toBe('\\int_{0}^{\\infty} f(x)dx');
    expect(latex(`<m:acc><m:accPr><m:chr m:val="⃗"/></m:accPr><m:e>${run('v')}</m:e></m:acc>`)).toBe('\\vec{v}');
    expect(latex(`<m:bar><m:barPr><m:pos m:val="top"/></m:barPr><m:e>${run('z')}</m:e></m:bar>`)).toBe('\\overline{z}');
    expect(latex(`<m:rad><m:deg>${run('3')}</m:deg><m:e>${run('8')}</m:e></m:rad>`)).toBe('\\sqrt[3]{8}');
    expect(latex(`<m:sSubSup><m:e>${run('a')}</m:e><m:sub>${run('n')}</m:sub><m:sup>${run('2')}</m:sup></m:sSubSup>`)).toBe('a_{n}^{2}');
    expect(
      latex(`<m:func><m:fName><m:limLow><m:e>${run('lim')}</m:e><m:lim>${run('n→∞')}</m:lim></m:limLow></m:fName><m:e>${run('x')}</m:e></m:func>`),
    ).toBe('\\lim_{n\\rightarrow \\infty} x');
  });
});
