import chardet from 'chardet';
import iconv from 'iconv-lite';

function charsetOf(mimeType: string | undefined): string | undefined {
  return /charset\s*=\s*"?([\w.:-]+)/i.exec(mimeType ?? '')?.[1];
}

/** How much of the input chardet looks at, and how much is read in each candidate encoding. */
const SAMPLE_BYTES = 64 * 1024;
const SCORED_BYTES = 16 * 1024;

/**
 * Always tried besides chardet's picks: the legacy encodings most files in the wild are written
 * in, with a small head start for the commonest that breaks ties between equal readings.
 */
const FALLBACKS: Record<string, number> = {
  'windows-1252': 0.3, gb18030: 0.2, shift_jis: 0.2, big5: 0, 'euc-kr': 0, 'euc-jp': 0, 'windows-1251': 0, 'windows-1250': 0, 'windows-1254': 0,
};

/** Labels that mean another encoding in practice (as browsers read them), and supersets. */
const ALIASES: Record<string, string> = {
  'iso-8859-1': 'windows-1252', latin1: 'windows-1252', 'us-ascii': 'windows-1252', ascii: 'windows-1252',
  'iso-8859-9': 'windows-1254', gb2312: 'gb18030', gbk: 'gb18030', 'x-sjis': 'shift_jis', sjis: 'shift_jis',
  'ks_c_5601-1987': 'euc-kr', 'windows-31j': 'shift_jis', cp932: 'shift_jis',
};

function canonical(name: string): string | undefined {
  const lower = name.toLowerCase();
  const resolved = ALIASES[lower] ?? lower;
  return iconv.encodingExists(resolved) ? resolved : undefined;
}

/**
 * Bytes to text: a byte-order mark wins, then UTF-16 recognised by its NUL bytes, then a declared
 * charset (Content-Type or `<meta>`), then UTF-8 when the bytes are valid UTF-8, then the legacy
 * encoding (Shift_JIS, GBK, windows-1252...) whose reading of the text is most plausible, with
 * chardet's opinion counted in.
 */
export function decodeText(bytes: Uint8Array, declared?: string): { text: string; encoding: string } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) return { text: buffer.subarray(3).toString('utf8'), encoding: 'utf-8' };
  if (buffer[0] === 0xff && buffer[1] === 0xfe) return { text: iconv.decode(buffer.subarray(2), 'utf-16le'), encoding: 'utf-16le' };
  if (buffer[0] === 0xfe && buffer[1] === 0xff) return { text: iconv.decode(buffer.subarray(2), 'utf-16be'), encoding: 'utf-16be' };
  const utf16 = utf16WithoutBom(buffer);
  if (utf16) return { text: iconv.decode(buffer, utf16), encoding: utf16 };
  const utf8 = validUtf8(buffer);
  const named = canonical(charsetOf(declared) ?? declared ?? '');
  // A single-byte label over valid multi-byte UTF-8 is nearly always a server default, not the truth.
  const mislabelled = named === 'windows-1252' && utf8 !== undefined && /[^\p{ASCII}]/u.test(utf8);
  if (named && named !== 'utf-8' && named !== 'utf8' && !mislabelled) return { text: iconv.decode(buffer, named), encoding: named };
  if (utf8 !== undefined) return { text: utf8, encoding: 'utf-8' };
  const encoding = guessLegacy(buffer.subarray(0, SAMPLE_BYTES), buffer.length > SAMPLE_BYTES);
  return { text: iconv.decode(buffer, encoding), encoding };
}

function validUtf8(buffer: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buffer);
  } catch {
    return undefined;
  }
}

function guessLegacy(sample: Buffer, truncated: boolean): string {
  const head = new Map<string, number>(Object.entries(FALLBACKS));
  for (const match of chardet.analyse(sample)) {
    const name = canonical(match.name);
    if (name && !name.startsWith('utf')) head.set(name, Math.max(head.get(name) ?? 0, (FALLBACKS[name] ?? 0) + match.confidence / 25));
  }
  const scored = sample.subarray(0, SCORED_BYTES);
  const cut = truncated || sample.length > SCORED_BYTES;
  const readings = [...head].map(([encoding, start]) => {
    const text = iconv.decode(scored, encoding);
    return { encoding, text, score: plausibility(text, cut, encoding === 'euc-kr') + start };
  });
  const best = readings.reduce((a, b) => (b.score > a.score ? b : a));
  // Encodings that read these bytes identically: name the commonest.
  const same = readings.filter((reading) => reading.text === best.text);
  return same.reduce((a, b) => ((FALLBACKS[b.encoding] ?? -1) > (FALLBACKS[a.encoding] ?? -1) ? b : a)).encoding;
}

type Kind = 'ascii' | 'other' | 'bad' | 'kana' | 'top' | 'common' | 'rare' | 'cjk' | 'letter' | 'punctuation' | 'symbol';

/** The commonest Han characters of Chinese and syllables of Korean: what tells GBK, Big5 and EUC-KR apart. */
const TOP = new Set(
  '的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实' +
    '日者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应向头文体政美相见被利什二等产或新己制身果加西月话合回特代内信表化老给世位次度门任常先海通教儿原东声提立及比员解水名' +
    '真论处走义各入几口认条平系气题活更别打女变四总何电数安少报才结反受目太量再感建务做接必场件计管期市直资命山金指许统区保至队形社便空决治展马科司五基书非则听白却界达光放强即像难且权思王象完设式色路记南品' +
    '이다는의에하고을가지서로한기리사도를으있수어자대시인나니게일정아것그보들해만구부전장제라상적과스주면우요국였데소여었성내비동마원까무위오말문화경거없세러려실생모선방계조식신연되된할습때속안치진히각미개분업중결운회관행',
);

const frequent = new Map<string, boolean>();

/** Whether a character is in the first, frequent level of a legacy set, found by encoding it there. */
function inFirstLevel(char: string, encoding: 'gb2312' | 'big5' | 'shift_jis' | 'euc-kr', from: number, to: number): boolean {
  const key = `${encoding}:${char}`;
  let found = frequent.get(key);
  if (found === undefined) {
    const bytes = iconv.encode(char, encoding);
    const code = bytes.length === 2 ? bytes[0]! * 256 + bytes[1]! : 0;
    found = code >= from && code <= to && bytes[1]! >= (encoding === 'euc-kr' ? 0xa1 : 0x40);
    frequent.set(key, found);
  }
  return found;
}

function kindOf(code: number, japanese: boolean): Kind {
  if (code < 0x80) return (code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a ? 'ascii' : 'other';
  if (code <= 0x9f || code === 0xfffd || (code >= 0xe000 && code <= 0xf8ff)) return 'bad';
  const char = String.fromCharCode(code);
  if (code >= 0x3041 && code <= 0x30fa) return 'kana';
  if (code >= 0xac00 && code <= 0xd7a3) return TOP.has(char) ? 'top' : inFirstLevel(char, 'euc-kr', 0xb0a1, 0xc8fe) ? 'common' : 'rare';
  if (code >= 0x4e00 && code <= 0x9fff) {
    if (!japanese && TOP.has(char)) return 'top';
    const common = japanese
      ? inFirstLevel(char, 'shift_jis', 0x889f, 0x9872)
      : inFirstLevel(char, 'gb2312', 0xb0a1, 0xd7f9) || inFirstLevel(char, 'big5', 0xa440, 0xc67e);
    return common ? 'common' : 'rare';
  }
  if ((code >= 0x3000 && code <= 0x303f) || (code >= 0xff01 && code <= 0xff5e)) return 'cjk';
  if (code >= 0xa0 && code <= 0xbf) return 'punctuation';
  if (/[\u00d7\u00f7\u2010-\u2027\u2030-\u203a\u20ac\u2122\u2116]/.test(char)) return 'punctuation';
  if (/\p{L}/u.test(char) && !(code >= 0xff61 && code <= 0xff9f)) return 'letter';
  return 'symbol';
}

function script(code: number): number {
  if (code < 0x250) return 0;
  if (code < 0x400) return 1; // Greek
  if (code < 0x530) return 2; // Cyrillic
  return code >> 8;
}

/** Accented letters of the Western European languages, the commonest non-ASCII Latin letters. */
const WESTERN = /[àáâãäåæçèéêëíîïñòóôõöúûüßœÀÁÂÃÄÅÆÇÈÉÊËÍÎÏÑÒÓÔÕÖÚÛÜŒ]/;

/** Rare outside Icelandic, and what Turkish windows-1254 letters read as in windows-1252. */
const ICELANDIC = /[þðÞÐ]/;

const EAST_ASIAN = new Set<Kind>(['kana', 'top', 'common', 'rare', 'cjk']);

/**
 * How much a decoding reads like real text. Kana, hangul and frequent Han characters (of Japanese
 * when there is kana) in runs, and letters of one script per word, score; undecodable bytes, C1
 * controls, rare East Asian characters (Han in Korean: modern Korean writes hangul),
 * stray symbols, script or case switches inside a word (what a wrong guess produces) cost.
 */
function plausibility(text: string, truncated: boolean, korean: boolean): number {
  const sample = truncated ? text.slice(0, -4) : text;
  const kana = sample.match(/[\u3041-\u30fa]/g)?.length ?? 0;
  const japanese = kana >= 3 && kana * 10 >= (sample.match(/[\u4e00-\u9fff]/g)?.length ?? 0);
  const kinds = Array.from({ length: sample.length }, (_, i): Kind => {
    const code = sample.charCodeAt(i);
    return korean && code >= 0x4e00 && code <= 0x9fff ? 'rare' : kindOf(code, japanese);
  });
  let score = 0;
  for (let i = 0; i < sample.length; i++) {
    const kind = kinds[i]!;
    if (kind === 'ascii' || kind === 'other') continue;
    const before = kinds[i - 1] ?? 'other';
    const after = kinds[i + 1] ?? 'other';
    const inRun = EAST_ASIAN.has(before) || EAST_ASIAN.has(after);
    switch (kind) {
      case 'bad': score -= 8; break;
      case 'symbol': score -= before === 'other' && after === 'other' ? 0 : 2; break;
      case 'punctuation': score -= isLetter(before) && isLetter(after) ? 2 : 0; break;
      case 'rare': score -= 1; break;
      case 'kana': case 'top': case 'common': case 'cjk':
        if (inRun) score += kind === 'common' ? 2 : kind === 'cjk' ? 1 : 4;
        else score += before === 'ascii' || after === 'ascii' ? -2 : kind === 'cjk' ? 0 : 1;
        break;
      case 'letter': score += letterScore(sample, i, kinds); break;
    }
  }
  return score;
}

/** A letter outside ASCII: one script and case per word, Latin accents not piled up. */
function letterScore(text: string, i: number, kinds: Kind[]): number {
  const code = text.charCodeAt(i);
  const previous = text.charCodeAt(i - 1);
  const before = kinds[i - 1] ?? 'other';
  const after = kinds[i + 1] ?? 'other';
  if (before === 'letter' && script(previous) !== script(code)) return -3;
  if (before === 'letter' && isLower(previous) && !isLower(code)) return -1;
  if (script(code) === 0) {
    if (before === 'letter') return kinds[i - 2] === 'letter' ? -0.5 : 0;
    return WESTERN.test(text[i]!) ? 1 : ICELANDIC.test(text[i]!) ? 0 : 0.5;
  }
  if (before === 'ascii' || after === 'ascii') return -1;
  return before === 'letter' || after === 'letter' ? 1 : 0;
}

function isLetter(kind: Kind): boolean {
  return kind === 'ascii' || kind === 'letter';
}

function isLower(code: number): boolean {
  const char = String.fromCharCode(code);
  return char !== char.toUpperCase();
}

/** UTF-16 text with no BOM shows as NUL bytes on one side of the pairs only (plain text has none). */
function utf16WithoutBom(buffer: Buffer): 'utf-16le' | 'utf-16be' | undefined {
  const sample = buffer.subarray(0, 4096);
  if (sample.length < 4) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < sample.length; i++) {
    if (sample[i] !== 0) continue;
    if (i % 2 === 0) evenZeros++;
    else oddZeros++;
  }
  const pairs = sample.length / 2;
  if (oddZeros >= Math.max(2, pairs * 0.05) && evenZeros <= oddZeros * 0.05) return 'utf-16le';
  if (evenZeros >= Math.max(2, pairs * 0.05) && oddZeros <= evenZeros * 0.05) return 'utf-16be';
  return undefined;
}

/** The charset a document declares: its Content-Type's, else a `<meta charset>` or `<meta http-equiv>` near the top. */
export function declaredCharset(bytes: Uint8Array, mimeType?: string): string | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1');
  return charsetOf(mimeType) ?? /<meta\b[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(head)?.[1];
}

export { charsetOf };
