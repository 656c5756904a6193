import iconv from 'iconv-lite';
import JSZip from 'jszip';
import { beforeAll, describe, expect, it } from 'vitest';
import * as XLSX from 'xlsx';
import { convert, renderMarkdown } from '../src/convert/index.js';
import type { ConvertedDocument, DocumentType } from '../src/convert/index.js';
import { converter, detectDelimiter, parseDelimited, ROWS_PER_SECTION } from '../src/convert/sheet.js';
import { DEFAULT_OPTIONS } from '../src/convert/types.js';
import { encryptedWorkbook } from './fixtures/workbooks.js';
import { fathomFailure } from '@fathom/core/testing';

function workbook(): XLSX.WorkBook {
  const book = XLSX.utils.book_new();
  const budget = XLSX.utils.aoa_to_sheet([
    ['Item', 'Share', 'Date', 'Amount', 'Doubled'],
    ['Rent | flat', 0.125, new Date(2024, 2, 1), 1234.5, null],
    ['Total', null, null, null, null],
    [null, null, null, null, null],
  ]);
  budget['B2']!.z = '0.0%';
  budget['C2']!.z = 'yyyy-mm-dd';
  budget['D2']!.z = '#,##0.00';
  budget['E2'] = { t: 'n', v: 2469, f: 'D2*2', z: '#,##0' };
  budget['B3'] = { t: 's', v: 'covered by the merge' };
  budget['!merges'] = [XLSX.utils.decode_range('A3:B3')];
  XLSX.utils.book_append_sheet(book, budget, 'Budget');
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet([['Password'], ['hunter2']]), 'Secrets');
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet([]), 'Blank');
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet([[1, 2, 3], [4, 5, 6]]), 'Numbers');
  book.Workbook = { Sheets: [{ Hidden: 0 }, { Hidden: 1 }, { Hidden: 0 }, { Hidden: 0 }] };
  book.Props = { Title: 'Household budget', Author: 'Ada', CreatedDate: new Date(Date.UTC(2024, 0, 2)) };
  return book;
}

function write(book: XLSX.WorkBook, bookType: 'xlsx' | 'xls' | 'ods'): Uint8Array {
  return new Uint8Array(XLSX.write(book, { type: 'buffer', bookType }) as Buffer);
}

async function direct(bytes: Uint8Array, type: DocumentType, name = `file.${type}`) {
  return converter.convert({ bytes, name }, type, DEFAULT_OPTIONS, convert);
}


describe('XLSX', () => {
  let document: ConvertedDocument;
  beforeAll(async () => {
    document = await convert({ bytes: write(workbook(), 'xlsx'), name: 'budget.xlsx' });
  });

  it('makes one section per sheet, in order, with the sheet headings', () => {
    expect(document.info.type).toBe('xlsx');
    expect(document.info.sheets).toEqual(['Budget', 'Secrets', 'Blank', 'Numbers']);
    expect(document.sections.map((section) => section.markdown.split('\n')[0])).toEqual([
      '## Budget',
      '## Secrets (hidden sheet)',
      '## Blank',
      '## Numbers',
    ]);
    expect(document.sections.map((section) => [section.kind, section.index, section.name])).toEqual([
      ['sheet', 1, 'Budget'],
      ['sheet', 2, 'Secrets'],
      ['sheet', 3, 'Blank'],
      ['sheet', 4, 'Numbers'],
    ]);
  });

  it('shows cells as the sheet displays them', () => {
    const budget = document.sections[0]!;
    expect(budget.tables?.[0]?.header).toEqual(['Item', 'Share', 'Date', 'Amount', 'Doubled']);
    expect(budget.tables?.[0]?.rows[0]).toEqual(['Rent | flat', '12.5%', '2024-03-01', '1,234.50', '2,469']);
    expect(budget.markdown).toContain('| Rent \\| flat | 12.5% | 2024-03-01 | 1,234.50 | 2,469 |');
    expect(budget.markdown).not.toContain('0.125');
    expect(budget.markdown).not.toContain('D2*2');
  });

  it('keeps a merged range’s value in its top-left cell only and trims empty rows', () => {
    const rows = document.sections[0]!.tables![0]!.rows;
    expect(rows).toEqual([
      ['Rent | flat', '12.5%', '2024-03-01', '1,234.50', '2,469'],
      ['Total', '', '', '', ''],
    ]);
    expect(document.sections[0]!.markdown).not.toContain('covered by the merge');
  });

  it('marks hidden sheets', () => {
    const secrets = document.sections[1]!;
    expect(secrets.hidden).toBe(true);
    expect(document.sections[0]!.hidden).toBeUndefined();
    expect(secrets.tables?.[0]?.rows).toEqual([['hunter2']]);
  });

  it('notes an empty sheet', () => {
    const blank = document.sections[2]!;
    expect(blank.markdown).toBe('## Blank\n\n(empty sheet)');
    expect(blank.tables).toBeUndefined();
    expect(document.info.notes).toContain('Sheet "Blank" is empty.');
  });

  it('uses column letters when the first row is data', () => {
    const numbers = document.sections[3]!;
    expect(numbers.tables?.[0]).toEqual({ location: 'sheet Numbers', header: ['A', 'B', 'C'], rows: [['1', '2', '3'], ['4', '5', '6']] });
    expect(numbers.markdown).toBe('## Numbers\n\n| A | B | C |\n| --- | --- | --- |\n| 1 | 2 | 3 |\n| 4 | 5 | 6 |');
  });

  it('puts title rows above the table and takes years as column labels', async () => {
    const book = XLSX.utils.book_new();
    const sheet = XLSX.utils.aoa_to_sheet([
      ['Sales by region'],
      [],
      ['Region', 2023, 2024],
      ['North', 1200, 1350],
      ['South', 900, 1010],
    ]);
    XLSX.utils.book_append_sheet(book, sheet, 'Sales');
    const result = await convert({ bytes: write(book, 'xlsx'), name: 'sales.xlsx' });
    expect(result.sections[0]!.markdown).toBe(
      '## Sales\n\nSales by region\n\n| Region | 2023 | 2024 |\n| --- | --- | --- |\n| North | 1200 | 1350 |\n| South | 900 | 1010 |',
    );
    expect(result.sections[0]!.tables?.[0]).toMatchObject({ caption: 'Sales by region', header: ['Region', '2023', '2024'] });
  });

  it('reads the workbook properties', () => {
    expect(document.info.title).toBe('Household budget');
    expect(document.info.author).toBe('Ada');
    expect(document.info.created).toBe('2024-01-02');
    expect(document.info.mimeType).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
  });

  it('renders plain markdown: no XML, no base64', () => {
    const markdown = renderMarkdown(document);
    expect(markdown).not.toMatch(/<\/?[a-z][\w:]*[^>]*>/i);
    expect(markdown).not.toMatch(/[A-Za-z0-9+/]{80,}/);
  });

  it('shows a formula saved without its value as the formula, not as empty or 0', async () => {
    const book = XLSX.utils.book_new();
    const scores = [71, 85, 92, 64, 78, 88, 95, 59];
    const sheet = XLSX.utils.aoa_to_sheet([['Student', 'Score'], ...scores.map((score, i) => [`S${i + 1}`, score]), ['Average', null], ['Best', null], ['Checked', 7]]);
    sheet['B10'] = { t: 'n', f: 'AVERAGE(B2:B9)' } as XLSX.CellObject;
    sheet['B11'] = { t: 's', f: '"Best: "&MAX(B2:B9)' } as XLSX.CellObject;
    sheet['B12'] = { t: 'n', v: 7, f: 'COUNTIF(B2:B9,">=60")' };
    XLSX.utils.book_append_sheet(book, sheet, 'Scores');
    const result = await convert({ bytes: write(book, 'xlsx'), name: 'scores.xlsx' });
    expect(result.sections[0]!.tables?.[0]?.rows.slice(-3)).toEqual([
      ['Average', '=AVERAGE(B2:B9)'],
      ['Best', '="Best: "&MAX(B2:B9)'],
      ['Checked', '7'],
    ]);
    expect(result.sections[0]!.markdown).toContain('| Average | =AVERAGE(B2:B9) |');
  });
});

describe('paging', () => {
  let document: ConvertedDocument;
  beforeAll(async () => {
    const rows = Array.from({ length: 1203 }, (_, i) => [`item ${i + 1}`, i + 1]);
    const book = XLSX.utils.book_new();
    XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet([['Name', 'Count'], ...rows]), 'Big');
    XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet([['After'], ['x']]), 'Small');
    document = await convert({ bytes: write(book, 'xlsx'), name: 'big.xlsx' });
  });

  it('splits a long sheet into sections of ROWS_PER_SECTION rows, each with the header', () => {
    expect(ROWS_PER_SECTION).toBe(500);
    const big = document.sections.filter((section) => section.name === 'Big');
    expect(big.map((section) => section.markdown.split('\n')[0])).toEqual([
      '## Big (rows 1–500 of 1,203)',
      '## Big (rows 501–1000 of 1,203)',
      '## Big (rows 1001–1203 of 1,203)',
    ]);
    for (const section of big) {
      expect(section.markdown.split('\n')[2]).toBe('| Name | Count |');
      expect(section.tables?.[0]?.header).toEqual(['Name', 'Count']);
    }
    expect(big.map((section) => section.tables?.[0]?.rows.length)).toEqual([500, 500, 203]);
    expect(big.map((section) => section.tables?.[0]?.location)).toEqual(['sheet Big rows 1–500', 'sheet Big rows 501–1000', 'sheet Big rows 1001–1203']);
  });

  it('puts each row in exactly one page, at the boundaries too', () => {
    const [first, second, third] = document.sections;
    expect(first!.tables![0]!.rows.at(-1)).toEqual(['item 500', '500']);
    expect(second!.tables![0]!.rows[0]).toEqual(['item 501', '501']);
    expect(second!.tables![0]!.rows.at(-1)).toEqual(['item 1000', '1000']);
    expect(third!.tables![0]!.rows[0]).toEqual(['item 1001', '1001']);
    expect(third!.markdown.trimEnd().endsWith('| item 1203 | 1203 |')).toBe(true);
    expect(first!.markdown).not.toContain('item 501 ');
  });

  it('numbers sections by position and leaves short sheets whole', () => {
    expect(document.sections.map((section) => section.index)).toEqual([1, 2, 3, 4]);
    expect(document.sections[3]!.markdown.split('\n')[0]).toBe('## Small');
  });
});

describe('XLS and ODS', () => {
  it('reads an XLS workbook with its formats and hidden sheet', async () => {
    const document = await convert({ bytes: write(workbook(), 'xls'), name: 'budget.xls' });
    expect(document.info.type).toBe('xls');
    expect(document.sections.map((section) => section.markdown.split('\n')[0])).toEqual([
      '## Budget',
      '## Secrets (hidden sheet)',
      '## Blank',
      '## Numbers',
    ]);
    expect(document.sections[0]!.tables?.[0]?.rows[0]).toEqual(['Rent | flat', '12.5%', '2024-03-01', '1,234.50', '2,469']);
    expect(document.info.title).toBe('Household budget');
  });

  it('reads an ODS workbook', async () => {
    const document = await convert({ bytes: write(workbook(), 'ods'), name: 'budget.ods' });
    expect(document.info.type).toBe('ods');
    expect(document.info.sheets).toEqual(['Budget', 'Secrets', 'Blank', 'Numbers']);
    expect(document.sections[0]!.tables?.[0]?.header).toEqual(['Item', 'Share', 'Date', 'Amount', 'Doubled']);
    expect(document.sections[0]!.tables?.[0]?.rows[0]?.[0]).toBe('Rent | flat');
    expect(document.sections[3]!.tables?.[0]?.rows).toEqual([['1', '2', '3'], ['4', '5', '6']]);
  });

  it('takes the displayed text and the hidden flag from a LibreOffice-style ODS', async () => {
    const cell = (type: string, value: string, text: string) =>
      `<table:table-cell office:value-type="${type}"${value ? ` office:value="${value}"` : ''}><text:p>${text}</text:p></table:table-cell>`;
    const content = `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:automatic-styles>
<style:style style:name="ta1" style:family="table"><style:table-properties table:display="true"/></style:style>
<style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"/></style:style>
</office:automatic-styles>
<office:body><office:spreadsheet>
<table:table table:name="Budget" table:style-name="ta1">
<table:table-row>${cell('string', '', 'Item')}${cell('string', '', 'Share')}${cell('string', '', 'Cost')}</table:table-row>
<table:table-row>${cell('string', '', 'Rent')}${cell('percentage', '0.125', '12.5%')}${cell('currency', '1234.5', '1.234,50 €')}</table:table-row>
</table:table>
<table:table table:name="Notes &amp; more" table:style-name="ta2"><table:table-row>${cell('string', '', 'secret')}</table:table-row></table:table>
</office:spreadsheet></office:body></office:document-content>`;
    const zip = new JSZip();
    zip.file('mimetype', 'application/vnd.oasis.opendocument.spreadsheet', { compression: 'STORE' });
    zip.file(
      'META-INF/manifest.xml',
      '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">' +
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>' +
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>',
    );
    zip.file('content.xml', content);
    const document = await convert({ bytes: await zip.generateAsync({ type: 'uint8array' }), name: 'lo.ods' });
    expect(document.sections[0]!.tables?.[0]?.rows).toEqual([['Rent', '12.5%', '1.234,50 €']]);
    expect(document.sections[1]!.markdown.split('\n')[0]).toBe('## Notes & more (hidden sheet)');
    expect(document.sections[1]!.hidden).toBe(true);
    expect(document.info.sheets).toEqual(['Budget', 'Notes & more']);
  });
});

describe('CSV and TSV', () => {
  it('reads semicolon-separated windows-1252 with accents', async () => {
    const text = 'Nom;Ville;Prix\r\nCafé;Québec;3,50\r\nThé;Genève;2,10\r\n';
    const document = await convert({ bytes: iconv.encode(text, 'windows-1252'), name: 'prix.csv' });
    expect(document.info.type).toBe('csv');
    expect(document.info.properties).toMatchObject({ encoding: 'windows-1252', delimiter: 'semicolon', rows: 3, columns: 3 });
    expect(document.sections).toHaveLength(1);
    expect(document.sections[0]!.markdown).toBe(
      '## prix.csv\n\n| Nom | Ville | Prix |\n| --- | --- | --- |\n| Café | Québec | 3,50 |\n| Thé | Genève | 2,10 |',
    );
    expect(document.sections[0]!.tables?.[0]?.location).toBe('sheet prix.csv');
    expect(document.info.sheets).toEqual(['prix.csv']);
  });

  it('reads Shift_JIS Japanese', async () => {
    const text = '名前,都市,人口\n東京,日本,1400万\n大阪,日本,880万\n';
    const document = await convert({ bytes: iconv.encode(text, 'Shift_JIS'), name: 'cities.csv' });
    expect(document.info.properties).toMatchObject({ encoding: 'shift_jis', delimiter: 'comma' });
    expect(document.sections[0]!.tables?.[0]).toMatchObject({ header: ['名前', '都市', '人口'], rows: [['東京', '日本', '1400万'], ['大阪', '日本', '880万']] });
  });

  it('reads GBK Chinese', async () => {
    const text = '产品,价格,数量\n苹果,5元,12\n香蕉,3元,30\n';
    const document = await convert({ bytes: iconv.encode(text, 'gbk'), name: 'fruit.csv' });
    expect(document.info.properties?.encoding).toBe('gb18030');
    expect(document.sections[0]!.tables?.[0]).toMatchObject({ header: ['产品', '价格', '数量'], rows: [['苹果', '5元', '12'], ['香蕉', '3元', '30']] });
  });

  it('reads UTF-16LE with and without a byte-order mark', async () => {
    const text = 'name,city\nZoë,Köln\n李,北京\n';
    const body = iconv.encode(text, 'utf-16le');
    for (const bytes of [Buffer.concat([Buffer.from([0xff, 0xfe]), body]), body]) {
      const document = await convert({ bytes: new Uint8Array(bytes), name: 'people.csv' });
      expect(document.info.properties?.encoding).toBe('utf-16le');
      expect(document.sections[0]!.tables?.[0]?.rows).toEqual([['Zoë', 'Köln'], ['李', '北京']]);
    }
  });

  it('parses quoted fields with delimiters, doubled quotes and line breaks', async () => {
    const text = 'id,comment,amount\n1,"Hello, world",10\n2,"She said ""hi""",20\n3,"two\nlines",30\n4,plain "inner" quote,40\n';
    const document = await convert({ bytes: Buffer.from(text), name: 'notes.csv' });
    expect(document.sections[0]!.tables?.[0]?.rows).toEqual([
      ['1', 'Hello, world', '10'],
      ['2', 'She said "hi"', '20'],
      ['3', 'two\nlines', '30'],
      ['4', 'plain "inner" quote', '40'],
    ]);
    expect(document.sections[0]!.markdown).toContain('| 3 | two lines | 30 |');
  });

  it('reads TSV and pipe-separated text', async () => {
    const tsv = await convert({ bytes: Buffer.from('a\tb, c\n1\t2, 3\n'), name: 'data.tsv' });
    expect(tsv.info.type).toBe('tsv');
    expect(tsv.info.properties?.delimiter).toBe('tab');
    expect(tsv.sections[0]!.tables?.[0]).toMatchObject({ header: ['a', 'b, c'], rows: [['1', '2, 3']] });
    const pipe = await convert({ bytes: Buffer.from('x|y|z\n1|2|3\n4|5|6\n'), name: 'p.csv' });
    expect(pipe.info.properties?.delimiter).toBe('pipe');
    expect(pipe.sections[0]!.markdown).toContain('| 4 | 5 | 6 |');
  });

  it('pages a long CSV like a sheet', async () => {
    const text = ['n,square', ...Array.from({ length: 1203 }, (_, i) => `${i + 1},${(i + 1) ** 2}`)].join('\n');
    const document = await convert({ bytes: Buffer.from(text), mimeType: 'text/csv' });
    expect(document.sections.map((section) => section.markdown.split('\n')[0])).toEqual([
      '## data (rows 1–500 of 1,203)',
      '## data (rows 501–1000 of 1,203)',
      '## data (rows 1001–1203 of 1,203)',
    ]);
    expect(document.sections[2]!.tables?.[0]?.rows[0]).toEqual(['1001', '1002001']);
  });

  it('reads delimited text labelled as a workbook as CSV', async () => {
    const document = await convert({ bytes: Buffer.from('a,b\n1,2\n'), name: 'export.xls' });
    expect(document.info.type).toBe('csv');
    expect(document.info.notes?.[0]).toMatch(/Labelled XLS but holds delimited text/);
    expect(document.sections[0]!.tables?.[0]?.rows).toEqual([['1', '2']]);
  });

  it('notes an empty file', async () => {
    const document = await convert({ bytes: Buffer.from('\n\n'), name: 'empty.csv' });
    expect(document.sections[0]!.markdown).toBe('## empty.csv\n\n(empty sheet)');
    expect(document.info.notes).toEqual(['The file holds no data.']);
  });

  it('detects the delimiter from consistent field counts', () => {
    expect(detectDelimiter('a;b;c\n1,5;2;3\n4;5,5;6\n')).toBe(';');
    expect(detectDelimiter('a,b\n"x;y",1\n"z;w",2\n')).toBe(',');
    expect(detectDelimiter('single column\nvalue\n')).toBe(',');
    expect(parseDelimited('a,b\r\n"c\r\nd",e', ',')).toEqual([['a', 'b'], ['c\r\nd', 'e']]);
    expect(parseDelimited('a,,\n', ',')).toEqual([['a', '', '']]);
  });
});

describe('corrupt workbooks', () => {
  it('says a password-protected workbook needs its password', async () => {
    const error = await fathomFailure(convert({ bytes: new Uint8Array(encryptedWorkbook()), name: 'locked.xlsx' }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toBe('Encrypted spreadsheet: a password is needed to read it');
    expect(error.hint).toMatch(/unprotected copy/);
  });

  it('refuses a truncated XLSX with a clear error', async () => {
    const bytes = write(workbook(), 'xlsx');
    const error = await fathomFailure(convert({ bytes: bytes.subarray(0, Math.floor(bytes.length / 2)), name: 'budget.xlsx' }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/^Corrupt XLSX: the ZIP container is truncated or damaged/);
    expect(error.hint).toBeTruthy();
  });

  it('refuses garbage behind an OLE header', async () => {
    const bytes = new Uint8Array(4096);
    bytes.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
    for (let i = 8; i < bytes.length; i++) bytes[i] = (i * 7919) % 251;
    const error = await fathomFailure(convert({ bytes, name: 'report.xls' }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/^Corrupt XLS: the OLE container is truncated or damaged/);
  });

  it('refuses binary junk labelled as a workbook', async () => {
    const junk = new Uint8Array(256).map((_, i) => (i * 37) % 256);
    expect((await fathomFailure(direct(junk, 'xlsx'))).message).toMatch(/^Corrupt XLSX: the file is not a ZIP or OLE container/);
    expect((await fathomFailure(direct(junk, 'ods'))).message).toMatch(/^Corrupt ODS/);
  });
});
