import type JSZip from 'jszip';
import { parseHTML } from 'linkedom';
import mammoth from 'mammoth';
import { htmlToMarkdown } from './html.js';
import { tidy } from './markdown.js';
import { coreProperties, descendants, ommlToLatex, openPackage, parseXml, readingPackage, readPart, textContent } from './ooxml.js';
import type { XNode } from './ooxml.js';
import type { ConvertedDocument, ConvertLimits, Converter, DocumentInfo } from './types.js';

/**
 * Markdown that must reach the output verbatim (LaTeX, footnote labels) travels through mammoth and
 * turndown as a private-use token, so neither drops nor escapes it.
 */
class Verbatim {
  private readonly values: string[] = [];

  token(markdown: string): string {
    this.values.push(markdown);
    return `\uE000${this.values.length - 1}\uE001`;
  }

  restore(text: string): string {
    return text.replace(/\uE000(\d+)\uE001/g, (_, n: string) => this.values[Number(n)] ?? '');
  }
}

const MATH = /<m:oMathPara\b[^>]*>[\s\S]*?<\/m:oMathPara>|<m:oMath\b[^>]*\/>|<m:oMath\b[^>]*>[\s\S]*?<\/m:oMath>/g;
const MATH_PARTS = ['word/document.xml', 'word/footnotes.xml', 'word/endnotes.xml', 'word/comments.xml'];

/** Replaces each equation with a text run holding its LaTeX, since mammoth drops OMML. Returns how many. */
async function rewriteEquations(zip: JSZip, verbatim: Verbatim, limits: ConvertLimits): Promise<number> {
  let count = 0;
  for (const path of MATH_PARTS) {
    const xml = await readPart(zip, path, limits, 'DOCX');
    if (!xml?.includes('<m:oMath')) continue;
    const rewritten = xml.replace(MATH, (equation) => {
      const root = parseXml(equation).children[0];
      const latex = root ? ommlToLatex(root) : '';
      if (!latex) return '';
      count++;
      const markdown = root?.name === 'm:oMathPara' ? `$$${latex}$$` : `$${latex}$`;
      return `<w:r><w:t xml:space="preserve">${verbatim.token(markdown)}</w:t></w:r>`;
    });
    zip.file(path, rewritten);
  }
  return count;
}

interface Comment {
  author?: string;
  date?: string;
  text: string;
  /** The document text the comment is anchored to. */
  anchor: string;
}

function paragraphsText(node: XNode): string {
  return descendants(node, 'w:p')
    .map((p) => descendants(p, 'w:t').map(textContent).join(''))
    .filter((line) => line.trim())
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The text between each w:commentRangeStart and its w:commentRangeEnd. */
function commentAnchors(documentXml: string): Map<string, string> {
  const anchors = new Map<string, string>();
  const open = new Set<string>();
  const walk = (node: XNode) => {
    const id = node.attrs['w:id'];
    if (node.name === 'w:commentRangeStart' && id !== undefined) {
      open.add(id);
      anchors.set(id, '');
    } else if (node.name === 'w:commentRangeEnd' && id !== undefined) {
      open.delete(id);
    } else if (node.name === 'w:t' || node.name === 'w:p') {
      const text = node.name === 'w:t' ? textContent(node) : ' ';
      for (const active of open) anchors.set(active, (anchors.get(active) ?? '') + text);
    }
    if (node.name !== 'w:t') node.children.forEach(walk);
  };
  walk(parseXml(documentXml));
  return anchors;
}

async function readComments(zip: JSZip, limits: ConvertLimits): Promise<Comment[]> {
  const xml = await readPart(zip, 'word/comments.xml', limits, 'DOCX');
  if (!xml) return [];
  const nodes = descendants(parseXml(xml), 'w:comment');
  if (nodes.length === 0) return [];
  const anchors = commentAnchors((await readPart(zip, 'word/document.xml', limits, 'DOCX')) ?? '');
  return nodes.map((node) => {
    const { 'w:id': id = '', 'w:author': author, 'w:date': date } = node.attrs;
    return {
      ...(author ? { author } : {}),
      ...(date ? { date: date.slice(0, 10) } : {}),
      text: paragraphsText(node),
      anchor: (anchors.get(id) ?? '').replace(/\s+/g, ' ').trim(),
    };
  });
}

function commentsMarkdown(comments: Comment[]): string {
  const lines = comments.map((comment) => {
    const who = comment.author ? `**${comment.author}**` : '**Comment**';
    const when = comment.date ? ` (${comment.date})` : '';
    const on = comment.anchor ? ` on "${comment.anchor}"` : '';
    return `- ${who}${when}${on}: ${comment.text}`;
  });
  return `## Comments\n\n${lines.join('\n')}`;
}

/**
 * Turns mammoth's note anchors ("[1]" links and a trailing list with "↑" back-links) into markdown
 * footnotes: `[^1]` in the text, `[^1]: …` definitions returned for the end.
 */
function extractNotes(html: string, verbatim: Verbatim): { html: string; notes: string[] } {
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const labels = new Map<string, string>();
  const counts = { footnote: 0, endnote: 0 };
  const labelOf = (id: string) => {
    let label = labels.get(id);
    if (!label) {
      const kind = id.startsWith('endnote') ? 'endnote' : 'footnote';
      label = `${kind === 'endnote' ? 'e' : ''}${++counts[kind]}`;
      labels.set(id, label);
    }
    return label;
  };
  for (const link of document.querySelectorAll('a[href^="#footnote-"], a[href^="#endnote-"]')) {
    const id = (link.getAttribute('href') ?? '').slice(1);
    if (id.includes('-ref-')) continue;
    const reference = link.parentElement?.tagName === 'SUP' ? link.parentElement : link;
    reference.replaceWith(document.createTextNode(verbatim.token(`[^${labelOf(id)}]`)));
  }
  const notes: string[] = [];
  for (const item of document.querySelectorAll('li[id^="footnote-"], li[id^="endnote-"]')) {
    item.querySelectorAll('a[href^="#footnote-ref-"], a[href^="#endnote-ref-"]').forEach((back) => back.remove());
    const text = htmlToMarkdown(item.innerHTML, { mainContent: false }).markdown.replace(/\n\n/g, '\n\n    ');
    notes.push(`[^${labelOf(item.getAttribute('id') ?? '')}]: ${text}`);
    const list = item.parentElement;
    item.remove();
    if (list && list.children.length === 0) list.remove();
  }
  return { html: document.body.innerHTML, notes };
}

function extension(contentType: string): string {
  const subtype = (contentType.split('/')[1] ?? 'bin').replace(/^x-/, '').replace(/\+xml$/, '');
  return subtype === 'jpeg' ? 'jpg' : subtype;
}

async function convertPackage(zip: JSZip, original: Uint8Array, limits: ConvertLimits): Promise<ConvertedDocument> {
  const verbatim = new Verbatim();
  const equations = await rewriteEquations(zip, verbatim, limits);
  const comments = await readComments(zip, limits);
  const core = await coreProperties(zip, limits, 'DOCX');

  let images = 0;
  const buffer = equations ? await zip.generateAsync({ type: 'nodebuffer' }) : Buffer.from(original);
  const { value: html } = await mammoth.convertToHtml(
    { buffer },
    { convertImage: mammoth.images.imgElement(async (image) => ({ src: `image${++images}.${extension(image.contentType)}` })) },
  );

  const { html: body, notes } = extractNotes(html, verbatim);
  const result = htmlToMarkdown(body, { mainContent: false });
  const parts = [result.markdown];
  if (notes.length) parts.push(notes.join('\n'));
  if (comments.length) parts.push(commentsMarkdown(comments));
  const markdown = verbatim.restore(tidy(parts.filter(Boolean).join('\n\n')));
  const tables = result.tables.map((table) => ({
    ...table,
    header: table.header.map((cell) => verbatim.restore(cell)),
    rows: table.rows.map((row) => row.map((cell) => verbatim.restore(cell))),
  }));

  const properties: Record<string, number> = {};
  if (equations) properties.equations = equations;
  if (images) properties.images = images;
  if (notes.length) properties.notes = notes.length;
  if (comments.length) properties.comments = comments.length;
  if (tables.length) properties.tables = tables.length;
  const info: DocumentInfo = {
    type: 'docx',
    mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    ...core,
    outline: result.outline.map((heading) => verbatim.restore(heading)),
    ...(Object.keys(properties).length ? { properties } : {}),
  };
  return { info, sections: [{ kind: 'body', index: 1, name: 'body', markdown, tables }] };
}

export const converter: Converter = {
  types: ['docx'],
  async convert(input, _type, options): Promise<ConvertedDocument> {
    const zip = await openPackage(input.bytes, 'DOCX', 'word/document.xml');
    return readingPackage('DOCX', () => convertPackage(zip, input.bytes, options.limits));
  },
};
