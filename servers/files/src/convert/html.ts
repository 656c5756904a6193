import { Readability } from '@mozilla/readability';
import { strikethrough, taskListItems } from '@joplin/turndown-plugin-gfm';
import { parseHTML } from 'linkedom';
import TurndownService from 'turndown';
import { declaredCharset, decodeText } from './decode.js';
import { fence, gfmTable, tidy } from './markdown.js';
import { MAX_NESTING } from './nesting.js';
import type { Converter, ConvertedDocument, Table } from './types.js';

const NOISE = 'script, style, noscript, template, iframe, svg, canvas, form, button, input, select, textarea, link, meta';
const CHROME = 'nav, header, footer, aside, [role="navigation"], [role="banner"], [role="contentinfo"], [aria-hidden="true"]';

let service: TurndownService | undefined;
function turndown(): TurndownService {
  if (service) return service;
  service = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-', emDelimiter: '*' });
  service.use([strikethrough, taskListItems]);
  service.remove(['script', 'style', 'noscript', 'template']);
  service.addRule('listItem', {
    filter: 'li',
    replacement: (content, node, options) => {
      const parent = node.parentNode as HTMLElement | null;
      let prefix = `${options.bulletListMarker} `;
      if (parent?.nodeName === 'OL') {
        const start = Number(parent.getAttribute('start') ?? 1);
        prefix = `${start + Array.prototype.indexOf.call(parent.children, node)}. `;
      }
      const body = content.replace(/^\n+/, '').replace(/\n+$/, '\n').replace(/\n/gm, `\n${' '.repeat(prefix.length)}`);
      return prefix + body + (node.nextSibling && !/\n$/.test(body) ? '\n' : '');
    },
  });
  service.addRule('preformatted', {
    filter: 'pre',
    replacement: (_content, node) => {
      const pre = node as HTMLElement;
      const children = [...pre.childNodes];
      const onlyCode =
        children.some((child) => child.nodeName === 'CODE') &&
        children.every((child) => child.nodeName === 'CODE' || (child.nodeType === 3 && !(child.textContent ?? '').trim()));
      const blocks = onlyCode ? children.filter((child) => child.nodeName === 'CODE') : [pre];
      return '\n\n' + blocks.map((block) => fence(block.textContent ?? '', languageOf(block as HTMLElement, pre))).join('\n\n') + '\n\n';
    },
  });
  service.addRule('image', {
    filter: 'img',
    replacement: (_content, node) => {
      const element = node as HTMLElement;
      const src = element.getAttribute('src') ?? '';
      const alt = (element.getAttribute('alt') ?? '').replace(/\s+/g, ' ').trim();
      if (src.startsWith('data:')) return alt ? `![${alt}](embedded image)` : '';
      return src ? `![${alt}](${src})` : '';
    },
  });
  return service;
}

function languageOf(...elements: HTMLElement[]): string {
  for (const element of elements) {
    const match = /(?:^|\s)(?:language|lang)-([\w+#-]+)/.exec(element.getAttribute?.('class') ?? '');
    if (match) return match[1]!;
  }
  return '';
}

const TABLE_TOKEN = (index: number) => `FATHOMTABLE${index}X`;

/**
 * Every table as a GFM table, whatever its cells hold: cell content becomes inline markdown on
 * one line, colspans are padded, and a table inside a table becomes its text. Tables are
 * swapped for tokens before turndown runs and their markdown put back after.
 */
function tablesToGfm(root: ParentNode, service: TurndownService): string[] {
  const rendered: string[] = [];
  for (const nested of [...root.querySelectorAll('table table')].reverse()) {
    nested.replaceWith(nested.ownerDocument.createTextNode(` ${(nested.textContent ?? '').replace(/\s+/g, ' ').trim()} `));
  }
  for (const table of [...root.querySelectorAll('table')]) {
    const rows = [...table.querySelectorAll('tr')].map((row) =>
      [...row.children]
        .filter((cell) => cell.nodeName === 'TD' || cell.nodeName === 'TH')
        .flatMap((cell) => {
          const text = service.turndown((cell as HTMLElement).innerHTML).replace(/\s*\n+\s*/g, ' ').trim();
          const span = Math.min(50, Math.max(1, Number(cell.getAttribute('colspan') ?? 1) || 1));
          return [text, ...Array<string>(span - 1).fill('')];
        }),
    ).filter((row) => row.length > 0);
    const caption = table.querySelector('caption')?.textContent?.replace(/\s+/g, ' ').trim();
    const markdown = rows.length === 0 ? '' : (caption ? `${caption}\n\n` : '') + gfmTable(rows[0]!, rows.slice(1));
    const token = table.ownerDocument.createElement('p');
    token.textContent = TABLE_TOKEN(rendered.length);
    table.replaceWith(token);
    rendered.push(markdown);
  }
  return rendered;
}

export interface HtmlToMarkdownOptions {
  /** The page's address, to resolve relative links and images. */
  url?: string;
  /** Readability's main content (default) instead of the whole body. */
  mainContent?: boolean;
}

export interface HtmlResult {
  title?: string;
  author?: string;
  published?: string;
  markdown: string;
  tables: Table[];
  outline: string[];
  /** The page's `<link rel="canonical">`, made absolute against `url`; only http(s). */
  canonicalUrl?: string;
  /** What to know about the conversion, e.g. nesting too deep to keep. */
  notes?: string[];
}

function canonicalOf(document: Document, pageUrl: string | undefined): string | undefined {
  for (const link of document.querySelectorAll('head link[rel][href]')) {
    if (!(link.getAttribute('rel') ?? '').toLowerCase().split(/\s+/).includes('canonical')) continue;
    const href = link.getAttribute('href')?.trim();
    if (!href) continue;
    try {
      const absolute = new URL(href, pageUrl);
      if (absolute.protocol === 'http:' || absolute.protocol === 'https:') return absolute.href;
    } catch {
      // a malformed (or, with no page URL, relative) canonical link is no canonical link
    }
  }
  return undefined;
}

function absolutize(document: Document, base: string | undefined) {
  if (!base) return;
  for (const [selector, attribute] of [
    ['a[href]', 'href'],
    ['img[src]', 'src'],
  ] as const) {
    for (const element of document.querySelectorAll(selector)) {
      const value = element.getAttribute(attribute);
      if (!value || value.startsWith('#') || value.startsWith('data:') || value.startsWith('javascript:')) continue;
      try {
        element.setAttribute(attribute, new URL(value, base).href);
      } catch {
        // leave a malformed link as written
      }
    }
  }
}

const BING = /(^|\.)bing\.com$/i;
const GOOGLE = /(^|\.)google\.[a-z]{2,3}(\.[a-z]{2})?$/i;
const DUCKDUCKGO = /(^|\.)duckduckgo\.com$/i;

/**
 * Where a search engine's tracking redirect leads: Bing's /ck/a?u=a1<base64url>, Google's
 * /url?q= or ?url=, DuckDuckGo's /l/?uddg=. Only http(s) targets; a relative link counts as the
 * engine's own when the page's address is unknown (a saved results page).
 */
function redirectTarget(href: string, base: string | undefined): string | undefined {
  let url: URL;
  try {
    url = new URL(href, base ?? 'https://page.invalid/');
  } catch {
    return undefined;
  }
  const hostKnown = base !== undefined || /^([a-z][a-z0-9+.-]*:)?\/\//i.test(href);
  const from = (engine: RegExp) => !hostKnown || engine.test(url.hostname);
  let target: string | null = null;
  if (url.pathname === '/ck/a' && from(BING)) {
    const encoded = url.searchParams.get('u');
    if (encoded?.startsWith('a1')) target = Buffer.from(encoded.slice(2), 'base64url').toString('utf8');
  } else if (url.pathname === '/url' && from(GOOGLE)) {
    target = url.searchParams.get('q') ?? url.searchParams.get('url');
  } else if (url.pathname === '/l/' && from(DUCKDUCKGO)) {
    target = url.searchParams.get('uddg');
  }
  if (!target) return undefined;
  try {
    const decoded = new URL(target);
    return decoded.protocol === 'https:' || decoded.protocol === 'http:' ? decoded.href : undefined;
  } catch {
    return undefined;
  }
}

function unwrapRedirects(document: Document, base: string | undefined) {
  for (const link of document.querySelectorAll('a[href]')) {
    const target = redirectTarget(link.getAttribute('href')!, base);
    if (target) link.setAttribute('href', target);
  }
}

const PERMALINK_CLASSES = 'a.headerlink, a.copiable-anchor, a.header-anchor, a.anchorjs-link';
const PERMALINK_HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'dt', 'caption'].map((tag) => `${tag} a[href^="#"]`).join(', ');

/** The "¶" links Sphinx, MkDocs and texinfo put in headings to link to themselves. */
function dropPermalinks(document: Document) {
  document.querySelectorAll(PERMALINK_CLASSES).forEach((link) => link.remove());
  for (const link of document.querySelectorAll(PERMALINK_HOSTS)) {
    if (/^\s*[¶§#🔗]\s*$/u.test(link.textContent ?? '')) link.remove();
  }
}

const SEPARATOR = '\\s+[|\\-–—\\\\/>»·]\\s+';

/**
 * Readability shortens a page title at separators ("Article | Site") but also at colons, which
 * cuts real titles apart ("Simple Example (libffi: the portable…)"): its title is kept only when
 * a separator is what it cut at.
 */
function titleOf(pageTitle: string | undefined, shortened: string | undefined): string | undefined {
  const page = pageTitle?.replace(/\s+/g, ' ').trim();
  const short = shortened?.replace(/\s+/g, ' ').trim();
  if (!page || !short || short === page) return short || page;
  const at = page.indexOf(short);
  if (at === 0 && new RegExp(`^${SEPARATOR}`).test(page.slice(short.length))) return short;
  if (at > 0 && at + short.length === page.length && new RegExp(`${SEPARATOR}$`).test(page.slice(0, at))) return short;
  return page;
}

const BLOCKS = 'p, pre, li, blockquote, table, dd, dt, figure';
const squash = (text: string | null | undefined) => (text ?? '').replace(/\s+/g, ' ').trim();

/**
 * The heading that introduces the main content in the page, when Readability left it out: it
 * keeps the best-scoring block and its scored siblings, so a section heading beside a nested
 * block (texinfo's <h3> above <div class="example">) is lost. Walks back from the content's
 * first block to the nearest heading, giving up at any other text on the way.
 */
function headingBefore(document: Document, content: Document): Element | undefined {
  const first = [...content.querySelectorAll(BLOCKS)].find((block) => squash(block.textContent));
  if (!first || /^H[1-6]$/.test(content.body.firstElementChild?.tagName ?? '')) return undefined;
  const snippet = squash(first.textContent).slice(0, 80);
  const all = [...document.body.querySelectorAll('*')];
  const anchor = all.findIndex((element) => element.matches(BLOCKS) && squash(element.textContent).startsWith(snippet));
  for (let i = anchor - 1; i >= 0; i--) {
    const element = all[i]!;
    if (element.contains(all[anchor]!)) continue;
    if (/^H[1-6]$/.test(element.tagName)) return element;
    if (element.matches(BLOCKS) && squash(element.textContent)) return undefined;
  }
  return undefined;
}

function tablesOf(root: ParentNode): Table[] {
  const tables: Table[] = [];
  root.querySelectorAll('table').forEach((table, index) => {
    const rows = [...table.querySelectorAll('tr')].map((row) =>
      [...row.querySelectorAll('th, td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim()),
    );
    if (rows.length === 0) return;
    const first = table.querySelector('tr');
    const hasHeader = !!first?.querySelector('th') || !!table.querySelector('thead');
    const caption = table.querySelector('caption')?.textContent?.trim();
    tables.push({
      location: `table ${index + 1}`,
      ...(caption ? { caption } : {}),
      header: hasHeader ? rows[0]! : [],
      rows: hasHeader ? rows.slice(1) : rows,
    });
  });
  return tables;
}

/**
 * Elements more than MAX_NESTING levels down keep only their text: Readability and turndown
 * recurse once per level (and slow down with depth). Walks without recursing; true when it cut.
 */
function flattenDeep(root: Element): boolean {
  const stack: [Element, number][] = [[root, 0]];
  let flattened = false;
  while (stack.length > 0) {
    const [element, depth] = stack.pop()!;
    if (depth < MAX_NESTING) {
      for (const child of element.children) stack.push([child, depth + 1]);
    } else if (element.children.length > 0) {
      element.replaceChildren(element.ownerDocument.createTextNode(element.textContent ?? ''));
      flattened = true;
    }
  }
  return flattened;
}

/** HTML to compact markdown: the main content (or the whole body), GFM tables, absolute links. */
export function htmlToMarkdown(html: string, options: HtmlToMarkdownOptions = {}): HtmlResult {
  const { document } = parseHTML(html.includes('<html') ? html : `<!doctype html><html><body>${html}</body></html>`);
  const flattened = flattenDeep(document.documentElement as unknown as Element);
  const base = document.querySelector('base[href]')?.getAttribute('href') ?? undefined;
  const pageUrl = base && options.url ? new URL(base, options.url).href : (options.url ?? base);
  absolutize(document as unknown as Document, pageUrl);
  unwrapRedirects(document as unknown as Document, pageUrl);
  const canonicalUrl = canonicalOf(document as unknown as Document, options.url);
  const pageTitle = document.querySelector('title')?.textContent?.trim() || undefined;
  const author = document.querySelector('meta[name="author"]')?.getAttribute('content') ?? undefined;
  const published =
    document.querySelector('meta[property="article:published_time"], meta[name="date"], time[datetime]')?.getAttribute('content') ??
    document.querySelector('time[datetime]')?.getAttribute('datetime') ??
    undefined;

  document.querySelectorAll(NOISE).forEach((element) => element.remove());
  dropPermalinks(document as unknown as Document);
  let contentHtml: string | undefined;
  let title = pageTitle;
  if (options.mainContent !== false) {
    const article = new Readability(document.cloneNode(true) as unknown as Document, { keepClasses: false }).parse();
    if (article?.content && (article.textContent ?? '').trim().length > 200) {
      contentHtml = article.content;
      title = titleOf(pageTitle, article.title ?? undefined);
      const { document: extracted } = parseHTML(`<!doctype html><html><body>${contentHtml}</body></html>`);
      const heading = headingBefore(document as unknown as Document, extracted as unknown as Document);
      const known = new Set([...extracted.querySelectorAll('h1, h2, h3, h4, h5, h6')].map((h) => squash(h.textContent).toLowerCase()));
      const text = squash(heading?.textContent);
      if (heading && text && !known.has(text.toLowerCase()) && text.toLowerCase() !== title?.toLowerCase()) {
        contentHtml = heading.outerHTML + contentHtml;
      }
    }
  }
  if (contentHtml === undefined) {
    if (options.mainContent !== false) document.querySelectorAll(CHROME).forEach((element) => element.remove());
    contentHtml = document.body?.innerHTML ?? html;
  }
  const { document: content } = parseHTML(`<!doctype html><html><body>${contentHtml}</body></html>`);
  const outline = [...content.querySelectorAll('h1, h2, h3')].map((h) => (h.textContent ?? '').replace(/\s+/g, ' ').trim()).filter(Boolean);
  const tables = tablesOf(content);
  const rendered = tablesToGfm(content, turndown());
  const markdown = tidy(
    turndown()
      .turndown(content.body.innerHTML)
      .replace(/FATHOMTABLE(\d+)X/g, (_token, index: string) => rendered[Number(index)] ?? ''),
  );
  return {
    ...(title ? { title } : {}),
    ...(author ? { author } : {}),
    ...(published ? { published } : {}),
    ...(canonicalUrl ? { canonicalUrl } : {}),
    markdown,
    tables,
    outline,
    ...(flattened ? { notes: [`Elements nested more than ${MAX_NESTING} levels deep were too deep to keep: their text is shown without markup.`] } : {}),
  };
}

export const converter: Converter = {
  types: ['html'],
  async convert(input, _type, options): Promise<ConvertedDocument> {
    const { text, encoding } = decodeText(input.bytes, declaredCharset(input.bytes, input.mimeType));
    const result = htmlToMarkdown(text, { ...(input.url ? { url: input.url } : {}), mainContent: options.mainContent });
    const heading = options.titleHeading && result.title && !result.markdown.startsWith('# ') ? `# ${result.title}\n\n` : '';
    return {
      info: {
        type: 'html',
        mimeType: 'text/html',
        ...(result.title ? { title: result.title } : {}),
        ...(result.author ? { author: result.author } : {}),
        ...(result.published ? { created: result.published } : {}),
        ...(result.canonicalUrl ? { canonicalUrl: result.canonicalUrl } : {}),
        encoding,
        outline: result.outline,
        ...(result.notes ? { notes: result.notes } : {}),
      },
      sections: [{ kind: 'body', index: 1, name: 'body', markdown: heading + result.markdown, tables: result.tables }],
      ...(options.keepHtml ? { html: text } : {}),
    };
  },
};
