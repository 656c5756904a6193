import { FathomError } from '@fathom/core';
import { htmlToMarkdown } from '@fathom/files/convert';
import type { WorkerPool } from '@fathom/files/pool';
import { compilePattern } from '@fathom/files/search';
import type { Locator, Page } from 'playwright-core';

/**
 * The page views an agent reads and acts from:
 * - the aria view, Playwright's AI snapshot with its own refs (`e12`, `f1e3` inside frames);
 * - the markdown view, the whole page as markdown with `[ref=mN]` after links, buttons and fields.
 *
 * `m` refs live in the page as `data-fathom-ref` attributes, so the same element keeps its ref
 * from one view to the next and a ref dies with its element.
 *
 * The in-page code is plain JavaScript in strings: this package compiles without the DOM lib.
 */

const REF_ATTRIBUTE = 'data-fathom-ref';

/** Runs an in-page script; callers pass one that puts a time limit on it. */
export type Evaluate = (script: string) => Promise<unknown>;

/** Playwright's AI snapshot of the page: YAML with `[ref=eN]` (and `fNeM` inside iframes). */
export async function ariaView(page: Page): Promise<string> {
  return page.ariaSnapshot({ mode: 'ai' });
}

/** Shared in-page helpers: which elements are interactive, visibility, ref assignment. */
const IN_PAGE_HELPERS = String.raw`
  const ATTR = ${JSON.stringify(REF_ATTRIBUTE)};
  const INTERACTIVE = 'a[href], button, input, select, textarea, [role=button], [role=link], [role=checkbox], [role=tab], [role=menuitem], [contenteditable]:not([contenteditable=false]), summary, [onclick]';
  const state = (globalThis.__fathomRefState ||= { next: 1 });
  if (state.next === 1) {
    for (const el of document.querySelectorAll('[' + ATTR + ']')) {
      const n = Number((el.getAttribute(ATTR) || '').slice(1));
      if (n >= state.next) state.next = n + 1;
    }
  }
  const seen = new Map();
  const refOf = (el) => {
    let ref = el.getAttribute(ATTR);
    // A page that clones nodes copies the attribute too: the second holder gets a ref of its own.
    if (!ref || !/^m\d+$/.test(ref) || (seen.has(ref) && seen.get(ref) !== el)) {
      ref = 'm' + state.next++;
      el.setAttribute(ATTR, ref);
    }
    seen.set(ref, el);
    return ref;
  };
  const isInteractive = (el) => {
    try { return el.matches(INTERACTIVE) && !(el.tagName === 'INPUT' && el.type === 'hidden'); } catch { return false; }
  };
  const isShown = (el) => {
    if (typeof el.checkVisibility === 'function') return el.checkVisibility({ visibilityProperty: true });
    const style = getComputedStyle(el);
    return style.display !== 'none' && style.visibility !== 'hidden';
  };
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'LINK', 'META', 'HEAD', 'svg', 'SVG', 'CANVAS', 'OBJECT', 'EMBED']);
  const isShownElement = (el) => {
    // Elements laid out as display: contents have no box of their own but show their children.
    if (isShown(el)) return true;
    return getComputedStyle(el).display === 'contents';
  };
  /** Children as rendered: an open shadow root's content, a slot's assigned nodes. */
  const childrenOf = (node) => {
    if (node.shadowRoot) return [...node.shadowRoot.childNodes];
    if (node.tagName === 'SLOT') {
      const assigned = node.assignedNodes({ flatten: true });
      return assigned.length ? assigned : [...node.childNodes];
    }
    return [...node.childNodes];
  };
  const clean = (text) => (text || '').replace(/\s+/g, ' ').trim();
`;

/** In-page: serialize the rendered page into plain HTML for the converter, with marks for refs. */
const MARKDOWN_SCRIPT = String.raw`(() => {
  ${IN_PAGE_HELPERS}
  const KEEP = new Set(['A', 'P', 'DIV', 'SPAN', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'UL', 'OL', 'LI', 'DL', 'DT', 'DD',
    'TABLE', 'THEAD', 'TBODY', 'TFOOT', 'TR', 'TD', 'TH', 'CAPTION', 'PRE', 'CODE', 'BLOCKQUOTE', 'EM', 'I', 'STRONG', 'B',
    'S', 'DEL', 'STRIKE', 'SUB', 'SUP', 'BR', 'HR', 'IMG', 'SECTION', 'ARTICLE', 'MAIN', 'HEADER', 'FOOTER', 'NAV', 'ASIDE',
    'FIGURE', 'FIGCAPTION', 'KBD', 'SAMP', 'MARK', 'SMALL', 'ABBR', 'Q', 'CITE', 'TIME', 'ADDRESS', 'DETAILS', 'LABEL',
    'FIELDSET', 'LEGEND', 'U', 'INS', 'VAR', 'DFN', 'CENTER', 'BIG', 'TT']);
  const marks = [];
  const mark = (text, trailing = ' ') => ' FATHOMMARK' + (marks.push(text) - 1) + 'X' + trailing;
  // A replaced element keeps its own line when it is laid out as a block.
  const placed = (el, text) => {
    const display = getComputedStyle(el).display;
    const block = !(display.startsWith('inline') || display === 'contents' || display === 'none');
    return block ? '<div>' + mark(text) + '</div>' : mark(text);
  };
  const esc = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const attr = (text) => esc(text).replace(/"/g, '&quot;');
  const short = (text, max) => (text.length > max ? text.slice(0, max - 1) + '…' : text);
  const quote = (text) => JSON.stringify(short(text, 200));
  const labelOf = (el) =>
    short(clean(el.getAttribute('aria-label')) || clean(el.innerText) || clean(el.value) || clean(el.getAttribute('title')) || clean(el.getAttribute('alt')) ||
      clean(el.querySelector && el.querySelector('img[alt]') ? el.querySelector('img[alt]').alt : ''), 120);
  const hasInteractiveInside = (el) => { try { return !!el.querySelector(INTERACTIVE); } catch { return false; } };

  const fieldMark = (el, ref) => {
    const tag = el.tagName;
    const name = el.getAttribute('name');
    const named = name ? ' name=' + name : '';
    if (tag === 'SELECT') {
      const options = [...el.options];
      const shown = options.slice(0, 40).map((o) => clean(o.label || o.text) + (o.selected ? ' (selected)' : ''));
      if (options.length > 40) shown.push('… ' + (options.length - 40) + ' more');
      return '[select' + (name ? ' ' + name : '') + (el.multiple ? ' (multiple)' : '') + ': options ' + shown.join(' | ') + '] [ref=' + ref + ']';
    }
    if (tag === 'TEXTAREA') {
      const placeholder = el.getAttribute('placeholder');
      return '[textarea' + named + (el.value ? ' value=' + quote(el.value) : '') + (placeholder ? ' placeholder=' + quote(placeholder) : '') +
        (el.disabled ? ' disabled' : '') + '] [ref=' + ref + ']';
    }
    const type = (el.getAttribute('type') || 'text').toLowerCase();
    if (type === 'checkbox' || type === 'radio') {
      return '[' + type + named + (el.checked ? ' checked' : ' unchecked') + (el.disabled ? ' disabled' : '') + '] [ref=' + ref + ']';
    }
    if (type === 'submit' || type === 'button' || type === 'reset' || type === 'image') {
      return '[button: ' + (labelOf(el) || type) + '] [ref=' + ref + ']';
    }
    const placeholder = el.getAttribute('placeholder');
    const value = type === 'password' ? (el.value ? '••••' : '') : el.value;
    return '[input type=' + type + named + (value ? ' value=' + quote(value) : '') + (placeholder ? ' placeholder=' + quote(placeholder) : '') +
      (el.disabled ? ' disabled' : '') + '] [ref=' + ref + ']';
  };

  const out = [];
  const walk = (node, inPre) => {
    if (node.nodeType === 3) { out.push(esc(node.data)); return; }
    if (node.nodeType !== 1 && node.nodeType !== 11) return;
    if (node.nodeType === 11) { for (const child of node.childNodes) walk(child, inPre); return; }
    const el = node;
    const tag = el.tagName.toUpperCase();
    if (SKIP.has(el.tagName) || SKIP.has(tag)) return;
    if (tag === 'IFRAME' || tag === 'FRAME') return;
    if (!isShownElement(el)) return;
    if (isInteractive(el)) {
      const ref = refOf(el);
      if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') { out.push(placed(el, fieldMark(el, ref))); return; }
      const role = el.getAttribute('role');
      if (tag === 'A' || role === 'link') {
        out.push(tag === 'A' ? '<a href="' + attr(el.href || '') + '">' : '<span>');
        for (const child of childrenOf(el)) walk(child, inPre);
        if (!clean(el.innerText) && !el.querySelector('img')) out.push(esc(labelOf(el) || 'link'));
        out.push(mark('[ref=' + ref + ']', '') + (tag === 'A' ? '</a>' : '</span>'));
        return;
      }
      if (el.isContentEditable && el.getAttribute('contenteditable') !== null) {
        out.push(placed(el, '[editable: ' + quote(clean(el.innerText)) + '] [ref=' + ref + ']'));
        return;
      }
      const kind = role === 'checkbox' ? 'checkbox' : role === 'tab' ? 'tab' : role === 'menuitem' ? 'menuitem' : tag === 'SUMMARY' ? 'summary' : 'button';
      // A big clickable container (a card with links inside) keeps its content and gets its ref after.
      const text = clean(el.innerText);
      if ((tag !== 'BUTTON' && hasInteractiveInside(el)) || text.length > 300) {
        out.push('<div>');
        for (const child of childrenOf(el)) walk(child, inPre);
        out.push(mark('[' + kind + '] [ref=' + ref + ']') + '</div>');
        return;
      }
      let state = '';
      if (role === 'checkbox') state = el.getAttribute('aria-checked') === 'true' ? ' checked' : ' unchecked';
      if (role === 'tab' && el.getAttribute('aria-selected') === 'true') state = ' selected';
      if (el.disabled || el.getAttribute('aria-disabled') === 'true') state += ' disabled';
      out.push(placed(el, '[' + kind + ': ' + (labelOf(el) || kind) + ']' + state + ' [ref=' + ref + ']'));
      return;
    }
    let open = '';
    let close = '';
    if (KEEP.has(tag)) {
      const name = tag === 'SECTION' || tag === 'ARTICLE' || tag === 'MAIN' || tag === 'HEADER' || tag === 'FOOTER' || tag === 'NAV' ||
        tag === 'ASIDE' || tag === 'FIGURE' || tag === 'FIGCAPTION' || tag === 'DETAILS' || tag === 'FIELDSET' || tag === 'ADDRESS' || tag === 'CENTER'
        ? 'div' : tag === 'LEGEND' ? 'p' : tag === 'LABEL' ? 'div' : tag.toLowerCase();
      let attrs = '';
      if (tag === 'A' && el.href) attrs = ' href="' + attr(el.href) + '"';
      if (tag === 'IMG') {
        const src = el.currentSrc || el.src || '';
        attrs = ' src="' + attr(src.startsWith('data:') ? 'data:' : src) + '" alt="' + attr(clean(el.alt)) + '"';
      }
      if ((tag === 'TD' || tag === 'TH') && el.colSpan > 1) attrs = ' colspan="' + el.colSpan + '"';
      if (tag === 'OL' && el.hasAttribute('start')) attrs = ' start="' + attr(el.getAttribute('start')) + '"';
      if ((tag === 'PRE' || tag === 'CODE') && el.className && typeof el.className === 'string') attrs = ' class="' + attr(el.className) + '"';
      open = '<' + name + attrs + '>';
      close = tag === 'IMG' || tag === 'BR' || tag === 'HR' ? '' : '</' + name + '>';
    } else if (tag === 'FORM' || tag === 'DIALOG' || tag === 'BODY' || tag === 'HTML') {
      open = '<div>'; close = '</div>';
    } else {
      const display = getComputedStyle(el).display;
      const inline = display.startsWith('inline') || display === 'contents';
      open = inline ? '<span>' : '<div>';
      close = inline ? '</span>' : '</div>';
    }
    out.push(open);
    if (open.startsWith('<img') || open === '<br>' || open === '<hr>') return;
    for (const child of childrenOf(el)) walk(child, inPre || tag === 'PRE');
    out.push(close);
  };
  if (document.body) walk(document.body, false);
  return { title: document.title || '', html: '<!doctype html><html><head><title>' + esc(document.title || '') + '</title></head><body>' + out.join('') + '</body></html>', marks };
})()`;

/** One tab's last conversion: the converter is the slow part, and a page often has not changed. */
export interface MarkdownMemo {
  last?: { url: string; html: string; marks: string; view: { title: string; markdown: string } };
}

/**
 * The page as markdown, links and fields marked with refs (`[ref=m3]`) to act on. The whole page
 * is kept, navigation and forms included, so everything the agent can do is in one view. With
 * `memo`, a page unchanged since the last call is not converted again.
 */
export async function markdownView(
  page: Page,
  evaluate: Evaluate = (script) => page.evaluate(script),
  memo: MarkdownMemo = {},
): Promise<{ title: string; markdown: string }> {
  const { title, html, marks } = (await evaluate(MARKDOWN_SCRIPT)) as { title: string; html: string; marks: string[] };
  const url = page.url();
  const cached = memo.last;
  if (cached && cached.html === html && cached.url === url && cached.marks === marks.join('\n')) return cached.view;
  const result = htmlToMarkdown(html, { url, mainContent: false });
  const markdown = result.markdown
    .replace(/ ?FATHOMMARK(\d+)X ?/g, (_token, index: string) => ` ${marks[Number(index)] ?? ''} `)
    .replace(/ +\]\(/g, '](')
    .replace(/\[ +/g, '[')
    .replace(/ {2,}/g, ' ')
    .replace(/^ +| +$/gm, '')
    .trim();
  const view = { title: result.title ?? title, markdown };
  memo.last = { url, html, marks: marks.join('\n'), view };
  return view;
}

const M_REF = /^m\d+$/;
const AI_REF = /^(?:f\d+)?e\d+$/;

/** The locator for a ref from either view, without checking that the element still exists. */
export function locatorFor(page: Page, ref: string): Locator {
  const trimmed = ref.trim().replace(/^\[?ref=/, '').replace(/\]$/, '');
  if (M_REF.test(trimmed)) return page.locator(`[${REF_ATTRIBUTE}="${trimmed}"]`);
  if (AI_REF.test(trimmed)) return page.getByRef(trimmed);
  throw new FathomError('invalid_argument', `"${ref.slice(0, 40)}" is not an element ref.`, {
    hint: 'Use a ref as shown in the last snapshot, e.g. m12 (markdown view) or e7 (aria view).',
  });
}

/** The locator for a ref, checked to still match an element on the page. */
export async function resolveRef(page: Page, ref: string): Promise<Locator> {
  const locator = locatorFor(page, ref);
  let count = 0;
  try {
    count = await locator.count();
  } catch {
    count = 0;
  }
  if (count === 0) {
    throw new FathomError('not_found', `No element ${ref} on the page`, {
      hint: 'The page changed: take a new snapshot (browser_snapshot) and use a ref from it.',
    });
  }
  return count > 1 ? locator.first() : locator;
}

/** Edits beyond which the diff gives up on line-level detail (Myers is O((N+M)·D)). */
const MAX_EDITS = 2_000;

type Op = { kind: '+' | '-' | '='; line: string; at: number };

/** What changed between two views of a page, as `+ ` and `- ` lines under a header. */
export function diffViews(before: string, after: string): { changed: boolean; text: string } {
  if (before === after) return { changed: false, text: 'The page did not change.' };
  const a = before.split('\n');
  const b = after.split('\n');
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const midA = a.slice(prefix, a.length - suffix);
  const midB = b.slice(prefix, b.length - suffix);
  const ops = diffLines(midA, midB, prefix);
  const added = ops.filter((op) => op.kind === '+').length;
  const removed = ops.filter((op) => op.kind === '-').length;
  if (added === 0 && removed === 0) return { changed: false, text: 'The page did not change.' };

  const body: string[] = [];
  let lastKind: Op['kind'] = '=';
  for (const op of ops) {
    if (op.kind === '=') {
      lastKind = '=';
      continue;
    }
    if (lastKind === '=') body.push(`@@ line ${op.at + 1} @@`);
    body.push(`${op.kind} ${op.line}`);
    lastKind = op.kind;
  }
  const plural = (n: number) => `${n} line${n === 1 ? '' : 's'}`;
  const text = `The page changed since the last view: ${plural(added)} added, ${plural(removed)} removed.\n${body.join('\n')}`;
  if (text.length > after.length) return { changed: true, text: after };
  return { changed: true, text };
}

/** A Myers line diff; `at` is the line's index in the new view. Past `MAX_EDITS` edits: all removed, all added. */
function diffLines(a: string[], b: string[], offset: number): Op[] {
  const n = a.length;
  const m = b.length;
  const wholesale = (): Op[] => [
    ...a.map((line) => ({ kind: '-' as const, line, at: offset })),
    ...b.map((line, i) => ({ kind: '+' as const, line, at: offset + i })),
  ];
  if (n === 0 || m === 0) return wholesale();
  const max = Math.min(n + m, MAX_EDITS);
  // trace[d] holds x for diagonals k = -d..d (index k + d) after d edits.
  const trace: Int32Array[] = [];
  let previous = new Int32Array(1);
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    const current = new Int32Array(2 * d + 1);
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (d === 0) x = 0;
      else if (k === -d || (k !== d && previous[k - 1 + d - 1]! < previous[k + 1 + d - 1]!)) x = previous[k + 1 + d - 1]!;
      else x = previous[k - 1 + d - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      current[k + d] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    trace.push(current);
    previous = current;
  }
  if (found < 0) return wholesale();
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const v = trace[d - 1]!;
    const k = x - y;
    const down = k === -d || (k !== d && v[k - 1 + d - 1]! < v[k + 1 + d - 1]!);
    const prevK = down ? k + 1 : k - 1;
    const prevX = v[prevK + d - 1]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) ops.push({ kind: '=', line: a[--x]!, at: offset + --y });
    if (down) ops.push({ kind: '+', line: b[--y]!, at: offset + y });
    else ops.push({ kind: '-', line: a[--x]!, at: offset + y });
  }
  while (x > 0 && y > 0) ops.push({ kind: '=', line: a[--x]!, at: offset + --y });
  return ops.reverse();
}

/** Where the page keeps, between the two in-page steps of a find, the block elements the first one walked. */
const FIND_BLOCKS = '__fathomFindBlocks';

/**
 * In-page: the visible text, whitespace collapsed, with the interactive element (ref) each stretch
 * of text belongs to (a label's text belongs to its field) and the block elements it is laid out in.
 */
const FIND_SCRIPT = String.raw`(() => {
  ${IN_PAGE_HELPERS}
  const BLOCK = new Set(['P', 'DIV', 'LI', 'UL', 'OL', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'TR', 'TD', 'TH', 'TABLE', 'SECTION',
    'ARTICLE', 'MAIN', 'HEADER', 'FOOTER', 'NAV', 'ASIDE', 'BLOCKQUOTE', 'PRE', 'BR', 'HR', 'DT', 'DD', 'FIGURE', 'FIGCAPTION', 'FORM', 'LABEL', 'BUTTON', 'OPTION']);
  const CELL = new Set(['TD', 'TH']);
  // Pieces and a running length: testing the end of a growing string would flatten it every time.
  const pieces = [];
  const textAt = { length: 0, last: ' ' };
  const add = (piece) => {
    let collapsed = piece.replace(/\s+/g, ' ');
    if (collapsed[0] === ' ' && textAt.last === ' ') collapsed = collapsed.slice(1);
    if (!collapsed) return;
    pieces.push(collapsed);
    textAt.length += collapsed.length;
    textAt.last = collapsed[collapsed.length - 1];
  };
  const owners = [];
  // [start, end] of each block's text, parents before children: the element a match is shown in.
  const blocks = [];
  const blockElements = [];
  const walk = (node, owner) => {
    if (node.nodeType === 3) {
      const start = textAt.length;
      add(node.data);
      if (owner && textAt.length > start) owners.push([start, textAt.length, refOf(owner)]);
      return;
    }
    if (node.nodeType === 11) { for (const child of node.childNodes) walk(child, owner); return; }
    if (node.nodeType !== 1) return;
    const el = node;
    if (SKIP.has(el.tagName) || SKIP.has(el.tagName.toUpperCase()) || el.tagName === 'IFRAME') return;
    if (!isShownElement(el)) return;
    const block = BLOCK.has(el.tagName);
    if (block) add(' ');
    // A table cell alone says little: a match in one is shown with its row.
    const shown = block && !CELL.has(el.tagName) ? blocks.push([textAt.length, textAt.length]) - 1 : -1;
    if (shown >= 0) blockElements[shown] = el;
    let own = owner;
    if (isInteractive(el)) {
      if (!owner) own = el;
      if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') {
        const value = el.type === 'password' ? '' : (el.value || el.getAttribute('placeholder') || '');
        const start = textAt.length;
        add(' ' + value + ' ');
        if (textAt.length > start) owners.push([start, textAt.length, refOf(el)]);
      }
    } else if (!owner && el.tagName === 'LABEL' && el.control && isInteractive(el.control)) {
      own = el.control;
    }
    for (const child of childrenOf(el)) walk(child, own);
    if (shown >= 0) blocks[shown][1] = textAt.length;
    if (block) add(' ');
  };
  if (document.body) walk(document.body, null);
  globalThis[${JSON.stringify(FIND_BLOCKS)}] = blockElements;
  return { text: pieces.join(''), owners, blocks };
})()`;

/** In-page: refs for the blocks (by index) the last FIND_SCRIPT walked; null for one gone since. */
const blockRefsScript = (indices: number[]) => String.raw`(() => {
  ${IN_PAGE_HELPERS}
  const blocks = globalThis[${JSON.stringify(FIND_BLOCKS)}] || [];
  delete globalThis[${JSON.stringify(FIND_BLOCKS)}];
  return ${JSON.stringify(indices)}.map((index) => (blocks[index] && blocks[index].isConnected ? refOf(blocks[index]) : null));
})()`;

interface PageText {
  text: string;
  /** [start, end, ref]: text that belongs to an interactive element, in order. */
  owners: [number, number, string][];
  /** [start, end]: the text of each block element (paragraph, list item, table row, ...), parents before children. */
  blocks: [number, number][];
}

/**
 * A match: the text around it, and the ref of the element that holds it: a link, button or field
 * (`actionable`), else the plain element (paragraph, list item, ...) its text is in.
 */
export interface FindMatch {
  text: string;
  ref?: string;
  actionable: boolean;
}

export interface FindOptions {
  /** The query is a JavaScript regular expression (matched case-insensitively). */
  regex?: boolean;
  /** At most this many matches come back (default 20); `total` counts them all. */
  limit?: number;
  /** Longest time the pattern may take on the page's text. */
  timeoutMs?: number;
  /** The workers the pattern runs in, where a costly one can be stopped. */
  matcher: WorkerPool;
}

/** Most characters of context a match is shown with. */
const FIND_CONTEXT = 300;
const FIND_CAP = 10_000;
const FIND_TIME_LIMIT_MS = 3000;

/** The innermost block element whose text holds [start, end): its index and [start, end], or -1 and the whole text. */
function blockAround(page: PageText, start: number, end: number): { index: number; range: [number, number] } {
  let found = { index: -1, range: [0, page.text.length] as [number, number] };
  for (let index = 0; index < page.blocks.length; index++) {
    const block = page.blocks[index]!;
    if (block[0] > start) break;
    if (block[1] >= end) found = { index, range: block };
  }
  return found;
}

/** The text of [first, last) around [start, end), cut to about `FIND_CONTEXT` characters, with ellipses where cut. */
function snippetAround(text: string, [first, last]: [number, number], start: number, end: number): string {
  const room = Math.max(0, FIND_CONTEXT - (end - start));
  let from = Math.max(first, start - Math.floor(room / 2));
  const to = Math.min(last, end + (room - (start - from)));
  from = Math.max(first, Math.min(from, to - FIND_CONTEXT));
  let snippet = text.slice(from, to).trim();
  if (from > first) snippet = '…' + snippet;
  if (to < last) snippet += '…';
  return snippet;
}

/** The ref of the interactive element whose text holds the start of a match. */
function ownerOf(page: PageText, start: number): string | undefined {
  for (const [from, to, ref] of page.owners) {
    if (from <= start && start < to) return ref;
    if (from > start) break;
  }
  return undefined;
}

/**
 * Where `query` occurs in the page's visible text (case-insensitive), each match with the text of
 * the element it is in (at most about 300 characters around it) and the ref of the element that
 * holds it. The page only hands over its text; the pattern runs in the server, within a time limit.
 */
export async function findInPage(
  page: Page,
  query: string,
  options: FindOptions,
  evaluate: Evaluate = (script) => page.evaluate(script),
): Promise<{ matches: FindMatch[]; total: number }> {
  if (!query) throw new FathomError('invalid_argument', 'The query is empty.', { hint: 'Pass the text to look for.' });
  const source = options.regex ? query : query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
  const limit = Math.max(1, Math.min(options.limit ?? 20, 200));
  compilePattern(source, 'gi');
  const pageText = (await evaluate(FIND_SCRIPT)) as PageText;
  const timeoutMs = options.timeoutMs ?? FIND_TIME_LIMIT_MS;
  const shown = source.length > 80 ? `${source.slice(0, 80)}…` : source;
  const { ranges, total } = await options.matcher.run<{ ranges: [number, number][]; total: number }>(
    { kind: 'match', request: { text: pageText.text, source, flags: 'gi', limit, cap: FIND_CAP } },
    timeoutMs,
    'the search on the page',
    () =>
      new FathomError('too_large', `The pattern /${shown}/ is too costly on this page: it did not finish within ${timeoutMs / 1000} s.`, {
        hint: 'Search for plain text (regex: false), or use a simpler pattern without nested repetition such as (a+)+.',
      }),
  );
  const found = ranges.map(([start, end]) => ({ start, end, owner: ownerOf(pageText, start), block: blockAround(pageText, start, end) }));
  const plain = [...new Set(found.filter((match) => !match.owner && match.block.index >= 0).map((match) => match.block.index))];
  const refs = plain.length ? ((await evaluate(blockRefsScript(plain))) as (string | null)[]) : [];
  const blockRef = new Map(plain.map((index, at) => [index, refs[at] ?? undefined]));
  const matches = found.map(({ start, end, owner, block }): FindMatch => {
    const text = snippetAround(pageText.text, block.range, start, end);
    const ref = owner ?? blockRef.get(block.index);
    return { text, ...(ref ? { ref } : {}), actionable: owner !== undefined };
  });
  return { matches, total };
}
