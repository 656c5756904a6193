import { posix } from 'node:path';
import { FathomError } from '@fathom/core';
import JSZip from 'jszip';
import { parseHTML } from 'linkedom';
import { cleanText, descendants, element, elements, localName, parseXml, textOf, xmlText } from './data.js';
import type { XmlElement } from './data.js';
import { htmlToMarkdown } from './html.js';
import type { ConvertedDocument, Converter, Section } from './types.js';

const HTML_TYPES = new Set(['application/xhtml+xml', 'text/html']);
/** Fonts scrambled so they ship only with the book; the text itself stays readable. */
const FONT_OBFUSCATION = new Set(['http://www.idpf.org/2008/embedding', 'http://ns.adobe.com/pdf/enc#RC']);
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);

function corrupt(reason: string): FathomError {
  return new FathomError('invalid_argument', `Corrupt EPUB: ${reason}`, {
    hint: 'The file is truncated or damaged; download or copy it again, or open it in an EPUB editor (Calibre, Sigil) to repair it.',
  });
}

/** A path inside the book from an href relative to `directory`; undefined for external links. */
function resolve(directory: string, href: string): string | undefined {
  const target = href.split('#')[0]!.split('?')[0]!;
  if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined;
  let decoded = target;
  try {
    decoded = decodeURIComponent(target);
  } catch {
    // a stray % stays as written
  }
  const joined = decoded.startsWith('/') ? decoded.slice(1) : posix.join(directory, decoded);
  return posix.normalize(joined).replace(/^(\.\.\/)+/, '');
}

class Book {
  private readonly byLowerCase = new Map<string, JSZip.JSZipObject>();

  constructor(readonly zip: JSZip) {
    for (const file of Object.values(zip.files)) if (!file.dir) this.byLowerCase.set(file.name.toLowerCase(), file);
  }

  file(path: string): JSZip.JSZipObject | undefined {
    return this.zip.file(path) ?? this.byLowerCase.get(path.toLowerCase());
  }

  paths(): string[] {
    return [...this.byLowerCase.values()].map((file) => file.name);
  }

  async bytes(path: string): Promise<Uint8Array | undefined> {
    const file = this.file(path);
    if (!file) return undefined;
    try {
      return await file.async('uint8array');
    } catch {
      throw corrupt(`${path} cannot be decompressed`);
    }
  }

  async text(path: string): Promise<string | undefined> {
    const bytes = await this.bytes(path);
    return bytes && xmlText(bytes);
  }

  async xml(path: string, what: string): Promise<XmlElement | undefined> {
    const text = await this.text(path);
    if (text === undefined) return undefined;
    try {
      return parseXml(text);
    } catch (error) {
      throw corrupt(`${what} (${path}) is not well-formed XML: ${(error as Error).message}`);
    }
  }
}

/** XHTML's `<title/>` or `<a id="x"/>` would swallow what follows in an HTML parser. */
function xhtmlToHtml(xhtml: string): string {
  return xhtml.replace(/<([a-zA-Z][\w:.-]*)((?:\s[^<>]*)?)\/>/g, (whole, tag: string, attributes: string) =>
    VOID.has(tag.toLowerCase()) ? whole : `<${tag}${attributes}></${tag}>`,
  );
}

/** Image sources as paths inside the book, never `../` chains relative to the chapter. */
function rewriteImages(html: string, directory: string): string {
  return html.replace(/(<img\b[^>]*?\ssrc\s*=\s*)(["'])(.*?)\2/gi, (whole, start: string, quote: string, src: string) => {
    const path = resolve(directory, src);
    return path ? `${start}${quote}${encodeURI(path)}${quote}` : whole;
  });
}

interface TocEntry {
  title: string;
  path: string | undefined;
}

function navToc(xhtml: string, directory: string): TocEntry[] {
  const { document } = parseHTML(xhtmlToHtml(xhtml));
  const navs = [...document.querySelectorAll('nav')];
  const toc = navs.find((nav) => (nav.getAttribute('epub:type') ?? '').split(/\s+/).includes('toc')) ?? navs[0];
  if (!toc) return [];
  return [...toc.querySelectorAll('a')]
    .map((link) => ({ title: (link.textContent ?? '').replace(/\s+/g, ' ').trim(), path: resolve(directory, link.getAttribute('href') ?? '') }))
    .filter((entry) => entry.title);
}

function ncxToc(ncx: XmlElement, directory: string): TocEntry[] {
  return descendants(element(ncx, 'navMap') ?? ncx, 'navPoint')
    .map((point) => ({
      title: cleanText(element(element(point, 'navLabel'), 'text')) ?? '',
      path: resolve(directory, element(point, 'content')?.attributes.src ?? ''),
    }))
    .filter((entry) => entry.title);
}

async function packagePath(book: Book): Promise<string | undefined> {
  const container = await book.xml('META-INF/container.xml', 'the container file');
  const declared = container && descendants(container, 'rootfile').find((rootfile) => rootfile.attributes['full-path']);
  const path = declared?.attributes['full-path'];
  if (path && book.file(path)) return path;
  return book.paths().find((name) => name.toLowerCase().endsWith('.opf'));
}

async function assertNotEncrypted(book: Book, chapters: Set<string>): Promise<void> {
  let encryption: XmlElement | undefined;
  try {
    encryption = await book.xml('META-INF/encryption.xml', 'the encryption list');
  } catch {
    return;
  }
  if (!encryption) return;
  const locked = descendants(encryption, 'EncryptedData')
    .filter((data) => !FONT_OBFUSCATION.has(descendants(data, 'EncryptionMethod')[0]?.attributes.Algorithm ?? ''))
    .map((data) => resolve('', descendants(data, 'CipherReference')[0]?.attributes.URI ?? ''));
  if (locked.some((path) => path && chapters.has(path))) {
    throw new FathomError('invalid_argument', 'Encrypted EPUB (DRM): its chapters cannot be read', {
      hint: 'The book is locked to the reading app it was bought for; use a DRM-free copy of it.',
    });
  }
}

function uncompressedSize(zip: JSZip): number {
  return Object.values(zip.files).reduce(
    (sum, file) => sum + ((file as unknown as { _data?: { uncompressedSize?: number } })._data?.uncompressedSize ?? 0),
    0,
  );
}

const ROLES: Record<string, string> = { edt: 'editor', trl: 'translator', ill: 'illustrator', aui: 'foreword', aft: 'afterword', ctb: 'contributor' };

/** A creator and its role when the book names one (OPF 2 attribute or EPUB 3 refinement); author when it does not. */
function creatorOf(creator: XmlElement, metadata: XmlElement): { name: string; role: string } | undefined {
  const name = cleanText(creator);
  if (!name) return undefined;
  const id = creator.attributes.id;
  const refined = id ? descendants(metadata, 'meta').find((meta) => meta.attributes.refines === `#${id}` && meta.attributes.property === 'role') : undefined;
  const code = (Object.entries(creator.attributes).find(([key]) => localName(key) === 'role')?.[1] ?? cleanText(refined) ?? 'aut').toLowerCase();
  return { name, role: code === 'aut' ? '' : (ROLES[code] ?? code) };
}

/** The book's title page in markdown: title, authors, publisher, date, then the description (often HTML in the OPF). */
function titlePage(book: { title?: string; authors: string[]; publisher?: string; published?: string; description?: string }): string {
  const facts = [
    book.authors.length ? `- ${book.authors.length === 1 ? 'Author' : 'Authors'}: ${book.authors.join(', ')}` : '',
    book.publisher ? `- Publisher: ${book.publisher}` : '',
    book.published ? `- Published: ${book.published}` : '',
  ].filter(Boolean);
  const description =
    book.description &&
    (/<[a-z][^>]*>/i.test(book.description)
      ? htmlToMarkdown(book.description, { mainContent: false }).markdown
      : book.description.split(/\n\s*\n/).map((part) => part.replace(/\s+/g, ' ').trim()).join('\n\n'));
  return [book.title ? `# ${book.title}` : '', facts.join('\n'), description ?? ''].filter(Boolean).join('\n\n');
}

export const converter: Converter = {
  types: ['epub'],
  async convert(input, _type, options): Promise<ConvertedDocument> {
    let zip: JSZip;
    try {
      zip = await JSZip.loadAsync(input.bytes, { checkCRC32: false });
    } catch {
      throw corrupt('its ZIP container is damaged or truncated');
    }
    const expanded = uncompressedSize(zip);
    if (expanded > options.limits.maxBytes) {
      throw new FathomError('too_large', `The EPUB expands to ${expanded} bytes, over the ${options.limits.maxBytes}-byte limit`, {
        hint: 'Ask the operator to raise FATHOM_MAX_FILE_BYTES, or use a smaller file.',
      });
    }
    const book = new Book(zip);
    const opfPath = await packagePath(book);
    if (!opfPath) throw corrupt('it has no package document (.opf): META-INF/container.xml is missing or names no file in the book');
    const opf = (await book.xml(opfPath, 'the package document'))!;
    const opfDirectory = posix.dirname(opfPath);

    const manifest = new Map(
      elements(element(opf, 'manifest'), 'item').map((item) => [
        item.attributes.id ?? '',
        {
          path: resolve(opfDirectory, item.attributes.href ?? ''),
          type: (item.attributes['media-type'] ?? '').toLowerCase(),
          properties: (item.attributes.properties ?? '').split(/\s+/),
        },
      ]),
    );
    const spine = element(opf, 'spine');
    const refs = elements(spine, 'itemref').map((ref) => ({ item: manifest.get(ref.attributes.idref ?? ''), linear: ref.attributes.linear !== 'no' }));
    const notes: string[] = [];
    const chapters: string[] = [];
    for (const ref of [...refs.filter((r) => r.linear), ...refs.filter((r) => !r.linear)]) {
      if (!ref.item?.path) continue;
      if (HTML_TYPES.has(ref.item.type) && !chapters.includes(ref.item.path)) chapters.push(ref.item.path);
      else if (!HTML_TYPES.has(ref.item.type)) notes.push(`${ref.item.path} (${ref.item.type || 'unknown type'}) in the reading order is not text and was skipped`);
    }
    if (chapters.length === 0) throw corrupt('its reading order (spine) lists no chapters');
    await assertNotEncrypted(book, new Set(chapters));

    let toc: TocEntry[] = [];
    const items = [...manifest.values()];
    const nav = items.find((item) => item.properties.includes('nav'));
    const ncx = manifest.get(spine?.attributes.toc ?? '') ?? items.find((item) => item.type === 'application/x-dtbncx+xml');
    try {
      const navText = nav?.path ? await book.text(nav.path) : undefined;
      if (nav?.path && navText) toc = navToc(navText, posix.dirname(nav.path));
      if (toc.length === 0 && ncx?.path) {
        const ncxXml = await book.xml(ncx.path, 'the table of contents');
        if (ncxXml) toc = ncxToc(ncxXml, posix.dirname(ncx.path));
      }
    } catch {
      notes.push('the table of contents could not be read');
    }
    const titles = new Map<string, string>();
    for (const entry of toc) if (entry.path && !titles.has(entry.path)) titles.set(entry.path, entry.title);

    const sections: Section[] = [];
    for (const path of chapters) {
      const xhtml = await book.text(path);
      if (xhtml === undefined) {
        notes.push(`${path} is listed in the reading order but missing from the book`);
        continue;
      }
      const result = htmlToMarkdown(rewriteImages(xhtmlToHtml(xhtml), posix.dirname(path)), { mainContent: false });
      const index = sections.length + 1;
      const name = titles.get(path) ?? result.outline[0] ?? posix.basename(path);
      const markdown = /^#{1,6}\s/.test(result.markdown) ? result.markdown : `## ${name}${result.markdown ? `\n\n${result.markdown}` : ''}`;
      const tables = result.tables.map((table) => ({ ...table, location: `chapter ${index}, ${table.location}` }));
      sections.push({ kind: 'chapter', index, name, markdown, tables });
    }

    const metadata = element(opf, 'metadata') ?? opf;
    const dates = descendants(metadata, 'date');
    const published = dates.find((date) => Object.values(date.attributes).includes('publication')) ?? dates[0];
    const modified = descendants(metadata, 'meta').find((meta) => meta.attributes.property === 'dcterms:modified');
    const title = cleanText(descendants(metadata, 'title')[0]);
    const creators = descendants(metadata, 'creator')
      .map((creator) => creatorOf(creator, metadata))
      .filter((creator) => creator !== undefined);
    const author = creators.filter((creator) => !creator.role).map((creator) => creator.name).join(', ');
    const language = cleanText(descendants(metadata, 'language')[0]);
    const publisher = cleanText(descendants(metadata, 'publisher')[0]);
    const description = textOf(descendants(metadata, 'description')[0]).trim();
    const header = titlePage({
      ...(title ? { title } : {}),
      authors: creators.map((creator) => (creator.role ? `${creator.name} (${creator.role})` : creator.name)),
      ...(publisher ? { publisher } : {}),
      ...(published && cleanText(published) ? { published: cleanText(published)! } : {}),
      ...(description ? { description } : {}),
    });
    if (header && sections[0]) sections[0].markdown = `${header}\n\n${sections[0].markdown}`;
    return {
      info: {
        type: 'epub',
        mimeType: 'application/epub+zip',
        ...(title ? { title } : {}),
        ...(author ? { author } : {}),
        ...(published && cleanText(published) ? { created: cleanText(published)! } : {}),
        ...(modified && cleanText(modified) ? { modified: cleanText(modified)! } : {}),
        outline: toc.length ? toc.map((entry) => entry.title) : sections.map((section) => section.name),
        ...(notes.length ? { notes } : {}),
        properties: {
          chapters: sections.length,
          ...(language ? { language } : {}),
          ...(publisher ? { publisher } : {}),
          ...(opf.attributes.version ? { epubVersion: opf.attributes.version } : {}),
        },
      },
      sections,
    };
  },
};
