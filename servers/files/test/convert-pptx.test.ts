import JSZip from 'jszip';
import pptxgenModule from 'pptxgenjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { convert, DEFAULT_OPTIONS, renderMarkdown } from '../src/convert/index.js';
import type { ConvertedDocument } from '../src/convert/index.js';
import { converter } from '../src/convert/pptx.js';

// The package's types are CommonJS-shaped (default under .default); its ESM build exports the class itself.
const PptxGenJS = ((pptxgenModule as unknown as { default?: unknown }).default ?? pptxgenModule) as typeof pptxgenModule.default;

const PNG = 'image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

async function buildPptx(): Promise<Uint8Array> {
  const pptx = new PptxGenJS();
  pptx.title = 'Roadmap';
  pptx.author = 'Ada Lovelace';
  pptx.defineSlideMaster({
    title: 'MASTER',
    objects: [
      { placeholder: { options: { name: 'title', type: 'title', x: 0.5, y: 0.2, w: 9, h: 1 }, text: '' } },
      { placeholder: { options: { name: 'body', type: 'body', x: 0.5, y: 1.5, w: 9, h: 3.5 }, text: '' } },
    ],
  });

  const plan = pptx.addSlide({ masterName: 'MASTER' });
  plan.addText('Plan for 2025', { placeholder: 'title' });
  plan.addText(
    [
      { text: 'Grow revenue', options: { bullet: true, breakLine: true } },
      { text: 'New markets', options: { bullet: true, indentLevel: 1, breakLine: true } },
      { text: 'Cut costs', options: { bullet: true, breakLine: true } },
      { text: 'Read the plan', options: { hyperlink: { url: 'https://example.com/plan' }, breakLine: true } },
      { text: 'Plain closing line' },
    ],
    { x: 0.5, y: 1.5, w: 8, h: 3 },
  );
  plan.addNotes('Remember to mention the budget.');

  const results = pptx.addSlide({ masterName: 'MASTER' });
  results.addText('Results', { placeholder: 'title' });
  const cells = (...texts: string[]) => texts.map((text) => ({ text }));
  results.addTable([cells('Quarter', 'Revenue'), cells('Q1', '100'), cells('Q2', '120')], { x: 0.5, y: 1, w: 6 });
  results.addChart(
    pptx.ChartType.bar,
    [
      { name: 'Sales', labels: ['Q1', 'Q2'], values: [100, 120] },
      { name: 'Costs', labels: ['Q1', 'Q2'], values: [80, 90] },
    ],
    { x: 1, y: 3, w: 6, h: 3, showTitle: true, title: 'Sales by quarter' },
  );
  results.addImage({ data: PNG, x: 7, y: 1, w: 1, h: 1, altText: 'Team photo' });

  const team = pptx.addSlide({ masterName: 'MASTER' });
  team.addText('Team', { placeholder: 'title' });
  team.addText('Alice leads design', { x: 1, y: 1.5, w: 4, h: 1 });
  team.addText('Bob leads sales', { x: 1, y: 2.5, w: 4, h: 1 });

  const questions = pptx.addSlide();
  questions.addText('Questions?', { x: 1, y: 1, w: 5, h: 1 });

  const zip = await JSZip.loadAsync((await pptx.write({ outputType: 'nodebuffer' })) as Buffer);
  // The generator cannot group shapes, hide a slide or reorder slides: edit the XML.
  const slide3 = await zip.file('ppt/slides/slide3.xml')!.async('string');
  const first = slide3.indexOf('<p:sp>', slide3.indexOf('Team'));
  const last = slide3.lastIndexOf('</p:sp>') + '</p:sp>'.length;
  zip.file(
    'ppt/slides/slide3.xml',
    (slide3.slice(0, first) +
      '<p:grpSp><p:nvGrpSpPr><p:cNvPr id="90" name="Group 1"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>' +
      slide3.slice(first, last) +
      '</p:grpSp>' +
      slide3.slice(last)).replace('<p:sld ', '<p:sld show="0" '),
  );
  const presentation = await zip.file('ppt/presentation.xml')!.async('string');
  const ids = [...presentation.matchAll(/<p:sldId [^>]*\/>/g)].map((m) => m[0]);
  zip.file('ppt/presentation.xml', presentation.replace(ids[2]!, '§').replace(ids[3]!, ids[2]!).replace('§', ids[3]!));
  return zip.generateAsync({ type: 'uint8array' });
}

describe('PPTX converter', () => {
  let bytes: Uint8Array;
  let document: ConvertedDocument;
  let markdown: string;

  beforeAll(async () => {
    bytes = await buildPptx();
    document = await convert({ bytes, name: 'deck.pptx' });
    markdown = renderMarkdown(document);
  });

  it('gives one section per slide in presentation order, titled from the title placeholder', () => {
    expect(document.info).toMatchObject({ type: 'pptx', title: 'Roadmap', author: 'Ada Lovelace', slides: 4 });
    expect(document.info.outline).toEqual(['Plan for 2025', 'Results', 'Slide 3', 'Team']);
    expect(document.sections.map((s) => [s.kind, s.index, s.name])).toEqual([
      ['slide', 1, '1'],
      ['slide', 2, '2'],
      ['slide', 3, '3'],
      ['slide', 4, '4'],
    ]);
    expect(document.sections.map((s) => s.markdown.split('\n')[0])).toEqual([
      '## Slide 1: Plan for 2025',
      '## Slide 2: Results',
      '## Slide 3',
      '## Slide 4: Team (hidden slide)',
    ]);
    expect(document.sections[3]!.hidden).toBe(true);
    expect(document.sections[2]!.markdown).toContain('Questions?');
  });

  it('keeps bullets with their nesting, links and plain paragraphs', () => {
    expect(document.sections[0]!.markdown).toContain('- Grow revenue\n   - New markets\n- Cut costs\n\n[Read the plan](https://example.com/plan)\n\nPlain closing line');
    expect(document.sections[0]!.markdown).not.toMatch(/Plan for 2025[\s\S]*Plan for 2025/);
  });

  it('puts speaker notes under a Notes heading', () => {
    expect(document.sections[0]!.markdown).toMatch(/### Notes\n\nRemember to mention the budget\.$/);
    expect(document.sections[1]!.markdown).not.toContain('### Notes');
  });

  it('writes tables and chart data as GFM tables and in section.tables', () => {
    const results = document.sections[1]!;
    expect(results.markdown).toContain('| Quarter | Revenue |\n| --- | --- |\n| Q1 | 100 |\n| Q2 | 120 |');
    expect(results.markdown).toContain('**Chart: Sales by quarter** (bar chart)');
    expect(results.markdown).toContain('| Category | Sales | Costs |\n| --- | --- | --- |\n| Q1 | 100 | 80 |\n| Q2 | 120 | 90 |');
    expect(results.tables).toEqual([
      { location: 'slide 2', header: ['Quarter', 'Revenue'], rows: [['Q1', '100'], ['Q2', '120']] },
      { location: 'slide 2', caption: 'Chart: Sales by quarter', header: ['Category', 'Sales', 'Costs'], rows: [['Q1', '100', '80'], ['Q2', '120', '90']] },
    ]);
  });

  it('shows images by alt text and reads grouped shapes', () => {
    expect(document.sections[1]!.markdown).toMatch(/!\[Team photo\]\([\w.-]+\.png\)/);
    expect(document.sections[3]!.markdown).toContain('Alice leads design\n\nBob leads sales');
  });

  it('leaves no raw XML or inline data in the output', () => {
    expect(markdown).not.toMatch(/<a:|<p:|<c:|base64|data:/);
  });

  it('refuses corrupt and truncated files with a plain message, and salvages a damaged slide', async () => {
    const attempt = (input: Uint8Array) => converter.convert({ bytes: input, name: 'x.pptx' }, 'pptx', DEFAULT_OPTIONS, convert);
    await expect(attempt(new TextEncoder().encode('not a presentation'))).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Corrupt PPTX: /),
    });
    await expect(attempt(bytes.subarray(0, 3000))).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^Corrupt PPTX: /) });
    const other = new JSZip();
    other.file('ppt/slides/slide1.xml', '<p:sld/>');
    await expect(attempt(await other.generateAsync({ type: 'uint8array' }))).rejects.toMatchObject({
      code: 'invalid_argument',
      message: 'Corrupt PPTX: the archive has no ppt/presentation.xml',
    });
    const damaged = await JSZip.loadAsync(bytes);
    damaged.file('ppt/slides/slide1.xml', '<p:sld><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>cut off</a:r>');
    const salvaged = await attempt(await damaged.generateAsync({ type: 'uint8array' }));
    expect(salvaged.info.notes).toEqual([expect.stringMatching(/^slide 1 \(ppt\/slides\/slide1\.xml\) is damaged: .+; its text may be incomplete$/)]);
    expect(salvaged.sections[0]!.markdown).toContain('cut off');
    expect(salvaged.sections[1]!.markdown).toContain('## Slide 2: Results');
    const ole = Buffer.alloc(2048);
    Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(ole);
    Buffer.from('EncryptedPackage', 'utf16le').copy(ole, 1024);
    await expect(attempt(ole)).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^Encrypted PPTX: a password/) });
  });
});
