// What bench/files/run.mjs measures in the outputs: words as multisets and how many of a
// reference's words an output has, the running lines of a PDF page, table rows, base64.
import { parseHTML } from 'linkedom';

export const sum = (values) => values.reduce((a, b) => a + b, 0);

/**
 * Words as a multiset: letters and digits, lower-cased; markdown syntax and escapes fall away.
 * `joined` is every word run together, for words that markup split or joined differently.
 */
export function words(text) {
  const list = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const counts = new Map();
  for (const word of list) counts.set(word, (counts.get(word) ?? 0) + 1);
  counts.joined = list.join('');
  return counts;
}

const HTML_TAG = /<\/?(?:a|b|blockquote|br|caption|code|col|colgroup|dd|div|dl|dt|em|figcaption|figure|h[1-6]|hr|i|img|li|ol|p|pre|span|strong|sub|sup|table|tbody|td|tfoot|th|thead|tr|u|ul)\b[^<>]*>/gi;
const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * The words of markdown as a reader sees them: without link targets; with rawHtml, also without
 * HTML tags and entities (pandoc writes tables GFM cannot hold as HTML).
 */
export function markdownWords(markdown, { rawHtml = false } = {}) {
  let text = markdown.replace(/\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+"[^"]*")?\)/g, ']');
  if (rawHtml) text = text.replace(HTML_TAG, ' ').replace(/&(amp|lt|gt|quot|apos|nbsp);/g, (_, name) => ENTITIES[name]);
  return words(text);
}

const BLOCKS = new Set(
  'ADDRESS ARTICLE ASIDE BLOCKQUOTE BR CAPTION DD DETAILS DIV DL DT FIELDSET FIGCAPTION FIGURE FOOTER FORM H1 H2 H3 H4 H5 H6 HEADER HR LI MAIN NAV OL P PRE SECTION SUMMARY TABLE TBODY TD TFOOT TH THEAD TR UL'.split(' '),
);

/** The text of an HTML fragment with a line break at each block boundary (textContent runs blocks together). */
export function blockText(html) {
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const parts = [];
  const stack = [document.body];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') {
      parts.push(node);
    } else if (node.nodeType === 3) {
      parts.push(node.data);
    } else if (node.nodeType === 1) {
      const block = BLOCKS.has(node.tagName);
      if (block) parts.push('\n');
      if (block) stack.push('\n');
      for (let child = node.lastChild; child; child = child.previousSibling) stack.push(child);
    }
  }
  return parts.join('');
}

/**
 * How many of the reference's words (multiset) the candidate has, and which are missing. A word
 * the candidate lacks still counts as found where it occurs in the candidate's run-together words
 * (inline markup joins or splits words differently: "ThinBox" + "Experimental"); single letters
 * must match exactly.
 */
export function coverage(reference, candidate) {
  let total = 0;
  let found = 0;
  const missing = new Map();
  for (const [word, n] of reference) {
    let have = Math.min(n, candidate.get(word) ?? 0);
    if (have < n && word.length >= 2 && candidate.joined) {
      let occurrences = 0;
      for (let at = candidate.joined.indexOf(word); at !== -1 && occurrences < n; at = candidate.joined.indexOf(word, at + word.length)) occurrences++;
      have = Math.max(have, Math.min(n, occurrences));
    }
    total += n;
    found += have;
    if (have < n) missing.set(word, n - have);
  }
  return { total, found, share: total === 0 ? 1 : found / total, missing };
}

/**
 * pdftotext's text without its running lines: page numbers and lines among the top or bottom two
 * of a page that recur (digits aside) at a page edge on at least 3 pages. Fathom drops those on
 * purpose, so "the same text" is judged on the rest.
 */
export function withoutRunningLines(text) {
  const pages = text.split('\f').map((page) => page.split('\n').map((line) => line.trim()).filter(Boolean));
  const key = (line) => line.toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ');
  const edges = (lines) => new Set([...lines.slice(0, 2), ...lines.slice(-2)]);
  const seen = new Map();
  for (const lines of pages) for (const k of new Set([...edges(lines)].map(key))) seen.set(k, (seen.get(k) ?? 0) + 1);
  return pages
    .map((lines) => {
      const edge = edges(lines);
      return lines.filter((line) => !(edge.has(line) && (/^[\divxlc]+$/i.test(line) || seen.get(key(line)) >= 3))).join('\n');
    })
    .join('\n\n');
}

export function topMissing(missing, limit = 12) {
  return [...missing.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([word, n]) => (n > 1 ? `${word}×${n}` : word))
    .join(' ');
}

/** Rows of GFM tables (header and body, not the --- line). */
export function gfmRows(markdown) {
  let rows = 0;
  for (const line of markdown.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('|') || !trimmed.endsWith('|') || trimmed.length < 2) continue;
    if (/^\|(\s*:?-{3,}:?\s*\|)+$/.test(trimmed)) continue;
    rows++;
  }
  return rows;
}

export const htmlRows = (markdown) => (markdown.match(/<tr[\s>]/gi) ?? []).length;
export const hasBase64 = (markdown) => /data:[\w/+.-]+;base64,/i.test(markdown) || /[A-Za-z0-9+/]{400,}/.test(markdown);
