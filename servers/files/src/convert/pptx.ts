import { posix } from 'node:path';
import type JSZip from 'jszip';
import { gfmTable, tidy } from './markdown.js';
import { child, childrenNamed, coreProperties, descendants, find, openPackage, parseXml, readingPackage, readPart, relationships, textContent, xmlProblem } from './ooxml.js';
import type { Relationship, XNode } from './ooxml.js';
import type { ConvertedDocument, ConvertLimits, Converter, Section, Table } from './types.js';

interface Slide {
  zip: JSZip;
  limits: ConvertLimits;
  number: number;
  rels: Map<string, Relationship>;
  tables: Table[];
  blocks: string[];
  title?: string;
}

/** Placeholders that repeat on every slide (footer, date, number) or only picture the slide. */
const CHROME = new Set(['dt', 'ftr', 'sldNum', 'hdr', 'sldImg']);
const TITLES = new Set(['title', 'ctrTitle']);

function escapeLine(text: string): string {
  return /^(#{1,6}\s|[-+*]\s|\d+[.)]\s|>)/.test(text) ? `\\${text}` : text;
}

function paragraphText(paragraph: XNode, rels: Map<string, Relationship>): string {
  let text = '';
  for (const node of paragraph.children) {
    if (node.name === 'a:br') text += ' ';
    if (node.name !== 'a:r' && node.name !== 'a:fld') continue;
    const run = textContent(child(node, 'a:t'));
    const link = rels.get(find(child(node, 'a:rPr'), 'a:hlinkClick')?.attrs['r:id'] ?? '');
    text += link?.external && run.trim() ? `[${run.trim()}](${link.target})` : run;
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** A text body as markdown: bulleted paragraphs (nested by a:pPr lvl) as lists, others as paragraphs. */
function textBody(body: XNode | undefined, rels: Map<string, Relationship>, bulletsByDefault: boolean): string {
  const items: { line: string; bullet: boolean }[] = [];
  for (const paragraph of childrenNamed(body, 'a:p')) {
    const text = paragraphText(paragraph, rels);
    if (!text) continue;
    const properties = child(paragraph, 'a:pPr');
    const numbered = !!child(properties, 'a:buAutoNum');
    const bullet = numbered || !!child(properties, 'a:buChar') || (bulletsByDefault && !child(properties, 'a:buNone'));
    const level = Math.min(Number(properties?.attrs.lvl ?? 0) || 0, 8);
    items.push(bullet ? { line: `${'   '.repeat(level)}${numbered ? '1.' : '-'} ${text}`, bullet } : { line: escapeLine(text), bullet });
  }
  return items.map((item, i) => (i === 0 ? '' : item.bullet && items[i - 1]!.bullet ? '\n' : '\n\n') + item.line).join('');
}

function tableOf(table: XNode, location: string): Table {
  const rows = childrenNamed(table, 'a:tr').map((row) =>
    childrenNamed(row, 'a:tc').map((cell) =>
      cell.attrs.hMerge === '1' || cell.attrs.vMerge === '1'
        ? ''
        : childrenNamed(child(cell, 'a:txBody'), 'a:p')
            .map((p) => paragraphText(p, new Map()))
            .filter(Boolean)
            .join(' '),
    ),
  );
  return { location, header: rows[0] ?? [], rows: rows.slice(1) };
}

/** idx → value of a chart data cache (c:strCache, c:numCache, or the first level of a multi-level one). */
function points(reference: XNode | undefined): string[] {
  const containers = ['c:lvl', 'c:strCache', 'c:numCache', 'c:strLit', 'c:numLit'];
  const cache = containers.map((name) => find(reference, name)).find(Boolean);
  const values: string[] = [];
  for (const point of childrenNamed(cache, 'c:pt')) values[Number(point.attrs.idx ?? values.length)] = textContent(child(point, 'c:v')).trim();
  return Array.from(values, (value) => value ?? '');
}

async function chart(slide: Slide, relationId: string): Promise<void> {
  const target = slide.rels.get(relationId);
  const xml = target && !target.external ? await readPart(slide.zip, target.target, slide.limits, 'PPTX') : undefined;
  if (!xml) return;
  const space = parseXml(xml);
  const titleNode = find(find(space, 'c:chart'), 'c:title');
  const title = (descendants(titleNode, 'a:t').map(textContent).join('') || textContent(find(titleNode, 'c:v'))).replace(/\s+/g, ' ').trim();
  const plotArea = find(space, 'c:plotArea');
  const kinds = (plotArea?.children ?? []).filter((c) => /^c:\w+Chart$/.test(c.name)).map((c) => c.name.slice(2, -5));
  const series = descendants(plotArea, 'c:ser').map((ser) => ({
    name: (textContent(find(child(ser, 'c:tx'), 'c:v')) || descendants(child(ser, 'c:tx'), 'a:t').map(textContent).join('')).trim(),
    categories: points(child(ser, 'c:cat') ?? child(ser, 'c:xVal')),
    values: points(child(ser, 'c:val') ?? child(ser, 'c:yVal')),
  }));
  const caption = title ? `Chart: ${title}` : 'Chart';
  const kind = kinds.length ? ` (${[...new Set(kinds)].join(', ')} chart)` : '';
  if (series.length === 0) {
    slide.blocks.push(`**${caption}**${kind}`);
    return;
  }
  const categories = series.find((s) => s.categories.length)?.categories ?? [];
  const length = Math.max(categories.length, ...series.map((s) => s.values.length));
  const header = ['Category', ...series.map((s, i) => s.name || `Series ${i + 1}`)];
  const rows = Array.from({ length }, (_, i) => [categories[i] || String(i + 1), ...series.map((s) => s.values[i] ?? '')]);
  slide.tables.push({ location: `slide ${slide.number}`, caption, header, rows });
  slide.blocks.push(`**${caption}**${kind}\n\n${gfmTable(header, rows)}`);
}

/** SmartArt keeps its text in a data part; it is listed as bullets. */
async function diagram(slide: Slide, relationId: string): Promise<void> {
  const target = slide.rels.get(relationId);
  const xml = target && !target.external ? await readPart(slide.zip, target.target, slide.limits, 'PPTX') : undefined;
  if (!xml) return;
  const lines = descendants(parseXml(xml), 'a:p')
    .map((p) => paragraphText(p, new Map()))
    .filter(Boolean);
  if (lines.length) slide.blocks.push(lines.map((line) => `- ${line}`).join('\n'));
}

async function shapes(slide: Slide, tree: XNode | undefined): Promise<void> {
  for (const shape of tree?.children ?? []) {
    switch (shape.name) {
      case 'p:sp': {
        const placeholder = find(child(shape, 'p:nvSpPr'), 'p:ph');
        const type = placeholder?.attrs.type;
        if (type && CHROME.has(type)) break;
        const body = child(shape, 'p:txBody');
        if (type && TITLES.has(type) && slide.title === undefined) {
          slide.title = childrenNamed(body, 'a:p')
            .map((p) => paragraphText(p, slide.rels))
            .filter(Boolean)
            .join(' ');
          break;
        }
        const text = textBody(body, slide.rels, !!placeholder && (!type || type === 'body' || type === 'obj'));
        if (text) slide.blocks.push(text);
        break;
      }
      case 'p:grpSp':
        await shapes(slide, shape);
        break;
      case 'mc:AlternateContent':
        await shapes(slide, child(shape, 'mc:Choice') ?? child(shape, 'mc:Fallback'));
        break;
      case 'p:graphicFrame': {
        const data = find(shape, 'a:graphicData');
        const table = child(data, 'a:tbl');
        if (table) {
          const found = tableOf(table, `slide ${slide.number}`);
          slide.tables.push(found);
          slide.blocks.push(gfmTable(found.header, found.rows));
        }
        const chartId = child(data, 'c:chart')?.attrs['r:id'];
        if (chartId) await chart(slide, chartId);
        const diagramId = child(data, 'dgm:relIds')?.attrs['r:dm'];
        if (diagramId) await diagram(slide, diagramId);
        break;
      }
      case 'p:pic': {
        const properties = find(child(shape, 'p:nvPicPr'), 'p:cNvPr');
        const alt = (properties?.attrs.descr || properties?.attrs.title || '').replace(/\s+/g, ' ').replace(/[[\]]/g, '').trim();
        const media = slide.rels.get(find(child(shape, 'p:blipFill'), 'a:blip')?.attrs['r:embed'] ?? '');
        const name = media && !media.external ? posix.basename(media.target) : 'image';
        slide.blocks.push(`![${alt}](${name})`);
        break;
      }
    }
  }
}

async function notesOf(slide: Slide): Promise<string> {
  const notes = [...slide.rels.values()].find((rel) => rel.type.endsWith('/notesSlide') && !rel.external);
  const xml = notes ? await readPart(slide.zip, notes.target, slide.limits, 'PPTX') : undefined;
  if (!notes || !xml) return '';
  const rels = await relationships(slide.zip, notes.target, slide.limits, 'PPTX');
  return descendants(parseXml(xml), 'p:sp')
    .filter((shape) => find(child(shape, 'p:nvSpPr'), 'p:ph')?.attrs.type === 'body')
    .map((shape) => textBody(child(shape, 'p:txBody'), rels, false))
    .filter(Boolean)
    .join('\n\n');
}

async function slidePaths(zip: JSZip, limits: ConvertLimits): Promise<string[]> {
  const xml = (await readPart(zip, 'ppt/presentation.xml', limits, 'PPTX')) ?? '';
  const rels = await relationships(zip, 'ppt/presentation.xml', limits, 'PPTX');
  const listed = descendants(find(parseXml(xml), 'p:sldIdLst'), 'p:sldId')
    .map((id) => rels.get(id.attrs['r:id'] ?? ''))
    .filter((rel): rel is Relationship => !!rel && !rel.external)
    .map((rel) => rel.target);
  if (listed.length) return listed;
  const number = (path: string) => Number(/(\d+)\.xml$/.exec(path)?.[1] ?? 0);
  return Object.keys(zip.files)
    .filter((path) => /^ppt\/slides\/slide\d+\.xml$/.test(path))
    .sort((a, b) => number(a) - number(b));
}

async function convertPackage(zip: JSZip, limits: ConvertLimits): Promise<ConvertedDocument> {
  const core = await coreProperties(zip, limits, 'PPTX');
  const sections: Section[] = [];
  const outline: string[] = [];
  const notes: string[] = [];
  for (const [i, path] of (await slidePaths(zip, limits)).entries()) {
    const number = i + 1;
    const xml = await readPart(zip, path, limits, 'PPTX');
    const problem = xml === undefined ? 'it is missing from the package' : xmlProblem(xml);
    if (problem) notes.push(`slide ${number} (${path}) is damaged: ${problem}; its text may be incomplete`);
    const root = parseXml(xml ?? '');
    const slide: Slide = { zip, limits, number, rels: await relationships(zip, path, limits, 'PPTX'), tables: [], blocks: [] };
    await shapes(slide, find(root, 'p:spTree'));
    const hidden = child(root, 'p:sld')?.attrs.show === '0';
    const speaker = await notesOf(slide);
    const heading = `## Slide ${number}${slide.title ? `: ${slide.title}` : ''}${hidden ? ' (hidden slide)' : ''}`;
    const parts = [heading, ...slide.blocks, ...(speaker ? [`### Notes\n\n${speaker}`] : [])];
    outline.push(slide.title || `Slide ${number}`);
    sections.push({
      kind: 'slide',
      index: number,
      name: String(number),
      markdown: tidy(parts.join('\n\n')),
      ...(hidden ? { hidden } : {}),
      ...(slide.tables.length ? { tables: slide.tables } : {}),
    });
  }
  const firstTitle = outline[0] !== 'Slide 1' ? outline[0] : undefined;
  const title = core.title ?? firstTitle;
  return {
    info: {
      type: 'pptx',
      mimeType: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
      ...core,
      ...(title ? { title } : {}),
      slides: sections.length,
      outline,
      ...(notes.length ? { notes } : {}),
    },
    sections,
  };
}

export const converter: Converter = {
  types: ['pptx'],
  async convert(input, _type, options): Promise<ConvertedDocument> {
    const zip = await openPackage(input.bytes, 'PPTX', 'ppt/presentation.xml');
    return readingPackage('PPTX', () => convertPackage(zip, options.limits));
  },
};
