import { FathomError } from '@fathom/core';
import { parseHTML } from 'linkedom';
import { cleanText, element, elements, isElement, localName, parseXml, textOf, xmlText } from './data.js';
import type { XmlElement, XmlNode } from './data.js';
import { htmlToMarkdown } from './html.js';
import type { ConvertedDocument, Converter, DocumentInfo, Section } from './types.js';

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);

function invalid(reason: string): FathomError {
  return new FathomError('invalid_argument', `Invalid feed: ${reason}`, {
    hint: 'The file must be an RSS or Atom feed in well-formed XML; check the address, or read it as text.',
  });
}

/** Escapes text for HTML but keeps entity references the XML left undecoded (&nbsp;). */
function escapeHtml(text: string): string {
  return text.replace(/&(?!#?\w+;)/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Atom's inline XHTML back to markup for the HTML converter. */
function serialize(nodes: XmlNode[]): string {
  return nodes
    .map((node) => {
      if (!isElement(node)) return escapeHtml(node);
      const tag = localName(node.name);
      const attributes = Object.entries(node.attributes)
        .filter(([key]) => key !== 'xmlns' && !key.startsWith('xmlns:'))
        .map(([key, value]) => ` ${localName(key)}="${escapeHtml(value).replace(/"/g, '&quot;')}"`)
        .join('');
      return VOID.has(tag) ? `<${tag}${attributes}>` : `<${tag}${attributes}>${serialize(node.children)}</${tag}>`;
    })
    .join('');
}

/** An RSS field or an Atom text construct as HTML. */
function htmlOf(node: XmlElement | undefined): string | undefined {
  if (!node) return undefined;
  const type = (node.attributes.type ?? '').toLowerCase();
  if (type === 'xhtml' || type.endsWith('xhtml+xml')) return serialize(node.children).trim() || undefined;
  const text = textOf(node).trim();
  if (!text) return undefined;
  return type === 'text' || type === 'text/plain' ? escapeHtml(text).replace(/\n/g, '<br>') : text;
}

function plainText(node: XmlElement | undefined): string | undefined {
  const html = htmlOf(node);
  if (!html) return undefined;
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  return (document.body.textContent ?? '').replace(/\s+/g, ' ').trim() || undefined;
}

function atomLink(parent: XmlElement, rel = 'alternate'): string | undefined {
  const link = elements(parent, 'link').find((candidate) => (candidate.attributes.rel ?? 'alternate') === rel);
  return link?.attributes.href;
}

function absolute(link: string | undefined, base: string | undefined): string | undefined {
  if (!link) return undefined;
  try {
    return new URL(link, base).href;
  } catch {
    return link;
  }
}

function size(bytes: string | undefined): string | undefined {
  const count = Number(bytes);
  if (!bytes || !Number.isFinite(count) || count <= 0) return undefined;
  const units = ['B', 'KB', 'MB', 'GB'];
  const power = Math.min(Math.floor(Math.log(count) / Math.log(1024)), units.length - 1);
  return `${(count / 1024 ** power).toFixed(power ? 1 : 0)} ${units[power]}`;
}

function enclosures(item: XmlElement, atom: boolean): string[] {
  const found = atom
    ? elements(item, 'link')
        .filter((link) => link.attributes.rel === 'enclosure')
        .map((link) => ({ url: link.attributes.href, type: link.attributes.type, length: link.attributes.length }))
    : [
        ...elements(item, 'enclosure').map((enclosure) => ({ ...enclosure.attributes })),
        ...elements(item, 'media:content').map((media) => ({ url: media.attributes.url, type: media.attributes.type, length: media.attributes.fileSize })),
      ];
  return found
    .filter((enclosure) => enclosure.url)
    .map((enclosure) => {
      const url = enclosure.url!;
      const name = decodeURIComponentSafe(url.split(/[?#]/)[0]!.split('/').filter(Boolean).at(-1) ?? url);
      const facts = [enclosure.type, size(enclosure.length)].filter(Boolean).join(', ');
      return `- [${name}](${url.replace(/ /g, '%20')})${facts ? ` (${facts})` : ''}`;
    });
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

interface FeedShape {
  format: string;
  channel: XmlElement;
  items: XmlElement[];
  atom: boolean;
}

function shapeOf(root: XmlElement): FeedShape {
  const name = localName(root.name);
  if (name === 'rss') {
    const channel = element(root, 'channel');
    if (!channel) throw invalid('the rss element has no channel');
    return { format: `RSS ${root.attributes.version ?? '2.0'}`, channel, items: elements(channel, 'item'), atom: false };
  }
  if (name === 'RDF') {
    return { format: 'RSS 1.0', channel: element(root, 'channel') ?? root, items: elements(root, 'item'), atom: false };
  }
  if (name === 'feed') return { format: 'Atom', channel: root, items: elements(root, 'entry'), atom: true };
  throw invalid(`the root element is "${root.name}", not rss, rdf:RDF or feed`);
}

function itemSection(item: XmlElement, index: number, atom: boolean, base: string | undefined): Section {
  const title = plainText(element(item, 'title')) ?? `Item ${index}`;
  const link = absolute(atom ? atomLink(item) : (cleanText(element(item, 'link')) ?? item.attributes['rdf:about']), base);
  const date = atom
    ? cleanText(element(item, 'published') ?? element(item, 'updated'))
    : cleanText(element(item, 'pubDate') ?? element(item, 'date'));
  const author = atom
    ? cleanText(element(element(item, 'author'), 'name'))
    : cleanText(element(item, 'author') ?? element(item, 'creator'));
  const body = atom
    ? (htmlOf(element(item, 'content')) ?? htmlOf(element(item, 'summary')))
    : (htmlOf(element(item, 'encoded')) ?? htmlOf(element(item, 'description')));
  const contentSrc = atom ? element(item, 'content')?.attributes.src : undefined;

  const parts = [`## ${title}`];
  const meta = [date, author, link].filter(Boolean).join(' · ');
  if (meta) parts.push(meta);
  const html = body ? htmlToMarkdown(body, { mainContent: false, ...(link?.startsWith('http') ? { url: link } : base ? { url: base } : {}) }) : undefined;
  if (html?.markdown) parts.push(html.markdown);
  if (contentSrc) parts.push(`Content: ${absolute(contentSrc, base)}`);
  const categories = elements(item, 'category')
    .map((category) => category.attributes.term ?? cleanText(category))
    .filter(Boolean);
  if (categories.length) parts.push(`Categories: ${categories.join(', ')}`);
  const attached = enclosures(item, atom);
  if (attached.length) parts.push(`Enclosures:\n${attached.join('\n')}`);
  return {
    kind: 'item',
    index,
    name: title,
    markdown: parts.join('\n\n'),
    tables: (html?.tables ?? []).map((table) => ({ ...table, location: `item ${index}, ${table.location}` })),
  };
}

export const converter: Converter = {
  types: ['feed'],
  async convert(input): Promise<ConvertedDocument> {
    const text = xmlText(input.bytes, input.mimeType);
    let root: XmlElement;
    try {
      root = parseXml(text);
    } catch (error) {
      throw invalid((error as Error).message);
    }
    const { format, channel, items, atom } = shapeOf(root);
    const base = input.url;
    const title = plainText(element(channel, 'title'));
    const description = plainText(element(channel, atom ? 'subtitle' : 'description'));
    const link = absolute(atom ? atomLink(channel) : cleanText(element(channel, 'link')), base);
    const updated = atom
      ? cleanText(element(channel, 'updated'))
      : cleanText(element(channel, 'lastBuildDate') ?? element(channel, 'pubDate') ?? element(channel, 'date'));
    const language = cleanText(element(channel, 'language')) ?? root.attributes['xml:lang'];
    const author = atom ? cleanText(element(element(channel, 'author'), 'name')) : cleanText(element(channel, 'managingEditor') ?? element(channel, 'creator'));

    const sections = items.map((item, i) => itemSection(item, i + 1, atom, base));
    const heading = [`# ${title ?? 'Feed'}`, description, link].filter(Boolean).join('\n\n');
    if (sections[0]) sections[0].markdown = `${heading}\n\n${sections[0].markdown}`;
    else sections.push({ kind: 'body', index: 1, name: 'body', markdown: `${heading}\n\n(The feed has no items.)` });
    const info: DocumentInfo = {
      type: 'feed',
      mimeType: atom ? 'application/atom+xml' : 'application/rss+xml',
      ...(title ? { title } : {}),
      ...(author ? { author } : {}),
      ...(updated ? { modified: updated } : {}),
      outline: sections.filter((section) => section.kind === 'item').map((section) => section.name),
      properties: {
        format,
        items: items.length,
        ...(description ? { description } : {}),
        ...(link ? { link } : {}),
        ...(updated ? { updated } : {}),
        ...(language ? { language } : {}),
      },
    };
    return { info, sections };
  },
};
