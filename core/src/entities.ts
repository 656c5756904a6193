/** The five entities XML predefines. */
const XML_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The named HTML entities web text commonly carries (HTML's full list is over two thousand). */
const HTML_ENTITIES: Readonly<Record<string, string>> = {
  ...XML_ENTITIES,
  AMP: '&',
  LT: '<',
  GT: '>',
  QUOT: '"',
  nbsp: '\u00A0',
  ensp: '\u2002',
  emsp: '\u2003',
  thinsp: '\u2009',
  zwnj: '\u200C',
  zwj: '\u200D',
  lrm: '\u200E',
  rlm: '\u200F',
  shy: '\u00AD',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  minus: '−',
  lsquo: '‘',
  rsquo: '’',
  sbquo: '‚',
  ldquo: '“',
  rdquo: '”',
  bdquo: '„',
  lsaquo: '‹',
  rsaquo: '›',
  laquo: '«',
  raquo: '»',
  middot: '·',
  bull: '•',
  prime: '′',
  Prime: '″',
  dagger: '†',
  Dagger: '‡',
  permil: '‰',
  sect: '§',
  para: '¶',
  deg: '°',
  plusmn: '±',
  times: '×',
  divide: '÷',
  micro: 'µ',
  sup1: '¹',
  sup2: '²',
  sup3: '³',
  frac14: '¼',
  frac12: '½',
  frac34: '¾',
  iexcl: '¡',
  iquest: '¿',
  cent: '¢',
  pound: '£',
  yen: '¥',
  euro: '€',
  curren: '¤',
  copy: '©',
  COPY: '©',
  reg: '®',
  REG: '®',
  trade: '™',
  larr: '←',
  rarr: '→',
  uarr: '↑',
  darr: '↓',
  harr: '↔',
  le: '≤',
  ge: '≥',
  ne: '≠',
  asymp: '≈',
  infin: '∞',
};

export interface DecodeHtmlEntitiesOptions {
  /**
   * Decode only XML's five predefined names (and character references), leaving every other name
   * as written: XML documents never expand entities their DTD declares.
   */
  xmlOnly?: boolean;
}

const REFERENCE = /&(#[xX][0-9a-fA-F]+|#\d+|[a-zA-Z][a-zA-Z0-9]*);/g;

/**
 * Decodes named entities and decimal or hex character references (`&amp;`, `&#8212;`, `&#x2014;`).
 * A reference to no character (zero, a surrogate, past U+10FFFF) becomes U+FFFD, as in HTML; an
 * unknown name stays as written.
 */
export function decodeHtmlEntities(text: string, options: DecodeHtmlEntitiesOptions = {}): string {
  if (!text.includes('&')) return text;
  const names = options.xmlOnly ? XML_ENTITIES : HTML_ENTITIES;
  return text.replace(REFERENCE, (whole, ref: string) => {
    if (ref[0] !== '#') return Object.hasOwn(names, ref) ? names[ref]! : whole;
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const digits = ref.slice(hex ? 2 : 1).replace(/^0+(?=.)/, '');
    const code = digits.length > 8 ? Infinity : parseInt(digits, hex ? 16 : 10);
    const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
    return valid ? String.fromCodePoint(code) : '\uFFFD';
  });
}
