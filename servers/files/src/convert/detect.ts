import JSZip from 'jszip';
import type { DocumentType } from './types.js';

const EXTENSIONS: Record<string, DocumentType> = {
  pdf: 'pdf', docx: 'docx', docm: 'docx', xlsx: 'xlsx', xlsm: 'xlsx', xls: 'xls', ods: 'ods', csv: 'csv', tsv: 'tsv', tab: 'tsv',
  pptx: 'pptx', html: 'html', htm: 'html', xhtml: 'html', epub: 'epub', ipynb: 'ipynb', json: 'json', geojson: 'json',
  jsonl: 'jsonl', ndjson: 'jsonl', yaml: 'yaml', yml: 'yaml', xml: 'xml', rss: 'feed', atom: 'feed', txt: 'text', log: 'text',
  md: 'markdown', markdown: 'markdown', rst: 'text', zip: 'zip', eml: 'eml', msg: 'msg',
  tar: 'tar', gz: 'gzip', gzip: 'gzip', tgz: 'gzip', taz: 'gzip', bz2: 'bzip2', bz: 'bzip2', tbz: 'bzip2', tbz2: 'bzip2', tb2: 'bzip2', xz: 'xz', txz: 'xz',
  png: 'image', jpg: 'image', jpeg: 'image', gif: 'image', webp: 'image', tif: 'image', tiff: 'image', bmp: 'image', heic: 'image',
  mp3: 'audio', wav: 'audio', flac: 'audio', ogg: 'audio', oga: 'audio', opus: 'audio', m4a: 'audio', aac: 'audio', wma: 'audio',
};

const CODE = new Set([
  'py', 'js', 'mjs', 'cjs', 'ts', 'tsx', 'jsx', 'java', 'c', 'h', 'cc', 'cpp', 'hpp', 'cs', 'go', 'rs', 'rb', 'php', 'swift', 'kt',
  'scala', 'r', 'jl', 'm', 'sh', 'bash', 'zsh', 'ps1', 'sql', 'css', 'scss', 'lua', 'pl', 'hs', 'ml', 'ex', 'exs', 'erl', 'clj',
  'dart', 'toml', 'ini', 'cfg', 'tex', 'bib', 'dockerfile', 'makefile', 'proto', 'graphql', 'vue', 'svelte',
]);

const MIME: Record<string, DocumentType> = {
  'application/pdf': 'pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.oasis.opendocument.spreadsheet': 'ods',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
  'text/csv': 'csv',
  'text/tab-separated-values': 'tsv',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'application/epub+zip': 'epub',
  'application/x-ipynb+json': 'ipynb',
  'application/json': 'json',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/yaml': 'yaml',
  'text/yaml': 'yaml',
  'application/xml': 'xml',
  'text/xml': 'xml',
  'application/rss+xml': 'feed',
  'application/atom+xml': 'feed',
  'text/markdown': 'markdown',
  'text/plain': 'text',
  'application/zip': 'zip',
  'application/x-tar': 'tar',
  'application/gzip': 'gzip',
  'application/x-gzip': 'gzip',
  'application/x-bzip2': 'bzip2',
  'application/x-xz': 'xz',
  'message/rfc822': 'eml',
  'application/vnd.ms-outlook': 'msg',
};

export const MIME_OF: Record<DocumentType, string> = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  xls: 'application/vnd.ms-excel',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  html: 'text/html',
  epub: 'application/epub+zip',
  ipynb: 'application/x-ipynb+json',
  json: 'application/json',
  jsonl: 'application/jsonl',
  yaml: 'application/yaml',
  xml: 'application/xml',
  feed: 'application/rss+xml',
  text: 'text/plain',
  markdown: 'text/markdown',
  code: 'text/plain',
  zip: 'application/zip',
  tar: 'application/x-tar',
  gzip: 'application/gzip',
  bzip2: 'application/x-bzip2',
  xz: 'application/x-xz',
  eml: 'message/rfc822',
  msg: 'application/vnd.ms-outlook',
  image: 'image/*',
  audio: 'audio/*',
};

function extensionOf(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const path = name.split(/[?#]/)[0]!;
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  if (base === 'dockerfile' || base === 'makefile') return base;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1) : undefined;
}

function startsWith(bytes: Uint8Array, signature: number[], offset = 0): boolean {
  return signature.every((byte, i) => bytes[offset + i] === byte);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.subarray(start, end)).toString('latin1');
}

const ZIP_FORMATS: readonly DocumentType[] = ['docx', 'xlsx', 'pptx', 'ods', 'epub'];

/** A damaged archive goes to the converter its name claims, which names the damage best. */
async function zipKind(bytes: Uint8Array, claimed: DocumentType | undefined): Promise<DocumentType> {
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(bytes, { checkCRC32: false });
  } catch {
    return claimed && ZIP_FORMATS.includes(claimed) ? claimed : 'zip';
  }
  const mimetype = zip.file('mimetype');
  if (mimetype) {
    const declared = (await mimetype.async('string')).trim();
    if (declared === 'application/epub+zip') return 'epub';
    if (declared === 'application/vnd.oasis.opendocument.spreadsheet') return 'ods';
  }
  if (zip.file('word/document.xml')) return 'docx';
  if (zip.file('xl/workbook.xml')) return 'xlsx';
  if (zip.file('ppt/presentation.xml')) return 'pptx';
  return claimed && ZIP_FORMATS.includes(claimed) ? claimed : 'zip';
}

/**
 * OLE compound files hold legacy Office documents, Outlook messages, and password-protected
 * OOXML files; the stream names in their directory (UTF-16LE) tell them apart.
 */
function oleKind(bytes: Uint8Array, byName?: DocumentType, byMime?: DocumentType): DocumentType {
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const has = (stream: string) => raw.includes(Buffer.from(stream, 'utf16le'));
  const ooxml = (['docx', 'xlsx', 'pptx'] as const).find((type) => type === byName || type === byMime);
  if (has('EncryptedPackage')) return ooxml ?? 'docx';
  if (byName === 'msg' || byMime === 'msg' || has('__substg1.0_')) return 'msg';
  if (has('WordDocument')) return 'docx';
  if (has('PowerPoint Document')) return 'pptx';
  return 'xls';
}

function textKind(text: string): DocumentType | undefined {
  const head = text.trimStart().slice(0, 1024).toLowerCase();
  if (head.startsWith('<!doctype html') || head.startsWith('<html')) return 'html';
  if (head.startsWith('<?xml') || head.startsWith('<')) {
    if (/<rss[\s>]|<feed[\s>]|<rdf:rdf[\s>]/.test(head)) return 'feed';
    if (/<html[\s>]/.test(head)) return 'html';
    if (head.startsWith('<?xml')) return 'xml';
  }
  if (head.startsWith('{') || head.startsWith('[')) {
    if (head.startsWith('{') && /"nbformat"|"cells"\s*:/.test(text.slice(0, 4096)) && /"nbformat"/.test(text)) return 'ipynb';
    const lines = text.trim().split('\n');
    if (lines.length > 1 && lines.slice(0, 5).every((line) => /^\s*[{[].*[}\]]\s*$/.test(line))) return 'jsonl';
    return 'json';
  }
  if (/^(from|received|return-path|mime-version|message-id|date|subject|delivered-to): /m.test(text.slice(0, 2048)) &&
      /^(from|to|subject): /im.test(text.slice(0, 4096)) && /\r?\n\r?\n/.test(text)) {
    const firstLine = text.slice(0, text.indexOf('\n'));
    if (/^[\w-]+: /.test(firstLine)) return 'eml';
  }
  return undefined;
}

const HTML_MIMES = new Set(['text/html', 'application/xhtml+xml']);

/**
 * The document's type, from its bytes first (magic numbers, ZIP contents, text shape), then its
 * name's extension, then its declared MIME type. A mislabelled file is read as what it is, except
 * that text served as HTML is HTML whatever its name (a page at /index.php, /wiki/Page.txt).
 */
export async function detectType(bytes: Uint8Array, name?: string, mimeType?: string): Promise<DocumentType> {
  const detected = await detectByContent(bytes, name, mimeType);
  const plain = detected === 'text' || detected === 'code' || detected === 'markdown' || detected === 'xml';
  return plain && HTML_MIMES.has(mimeType?.split(';')[0]?.trim().toLowerCase() ?? '') ? 'html' : detected;
}

/** Text has no NUL bytes (except UTF-16, where they fall on one side of each pair) and few control characters. */
export function looksBinary(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 4096);
  if ((sample[0] === 0xff && sample[1] === 0xfe) || (sample[0] === 0xfe && sample[1] === 0xff)) return false;
  let evenNuls = 0;
  let oddNuls = 0;
  let controls = 0;
  for (let i = 0; i < sample.length; i++) {
    const byte = sample[i]!;
    if (byte === 0) {
      if (i % 2 === 0) evenNuls++;
      else oddNuls++;
    } else if (byte < 0x09 || (byte > 0x0d && byte < 0x20 && byte !== 0x1b)) {
      controls++;
    }
  }
  const nuls = evenNuls + oddNuls;
  if (nuls > 0) return !(Math.min(evenNuls, oddNuls) === 0 && nuls >= sample.length / 8);
  return controls > sample.length * 0.05;
}

async function detectByContent(bytes: Uint8Array, name?: string, mimeType?: string): Promise<DocumentType> {
  const extension = extensionOf(name);
  const byName = extension ? (EXTENSIONS[extension] ?? (CODE.has(extension) ? 'code' : undefined)) : undefined;
  const mime = mimeType?.split(';')[0]?.trim().toLowerCase();
  const byMime = mime ? (MIME[mime] ?? (mime.startsWith('image/') ? 'image' : mime.startsWith('audio/') ? 'audio' : undefined)) : undefined;

  // Before the PDF check, which looks for "%PDF-" anywhere in the first KB: a first member's data starts at byte 512.
  if (ascii(bytes, 257, 262) === 'ustar') return 'tar';
  if (startsWith(bytes, [0x25, 0x50, 0x44, 0x46])) return 'pdf';
  if (bytes.length > 4 && ascii(bytes, 0, 1024).includes('%PDF-')) return 'pdf';
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]) || startsWith(bytes, [0x50, 0x4b, 0x05, 0x06])) return zipKind(bytes, byName ?? byMime);
  if (startsWith(bytes, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return oleKind(bytes, byName, byMime);
  if (startsWith(bytes, [0x1f, 0x8b, 0x08])) return 'gzip';
  // "BZh", the block size, then the magic of a first block or of the end of an empty stream.
  if (ascii(bytes, 0, 3) === 'BZh' && ['1AY&SY', '\u0017rE8P\u0090'].includes(ascii(bytes, 4, 10)) && /[1-9]/.test(ascii(bytes, 3, 4))) return 'bzip2';
  if (startsWith(bytes, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  if (
    startsWith(bytes, [0x89, 0x50, 0x4e, 0x47]) ||
    startsWith(bytes, [0xff, 0xd8, 0xff]) ||
    ascii(bytes, 0, 4) === 'GIF8' ||
    (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') ||
    startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]) ||
    ascii(bytes, 0, 2) === 'BM' && byName === 'image' ||
    (ascii(bytes, 4, 8) === 'ftyp' && /hei[cx]|mif1|avif/.test(ascii(bytes, 8, 12)))
  ) {
    return 'image';
  }
  if (
    ascii(bytes, 0, 3) === 'ID3' ||
    ascii(bytes, 0, 4) === 'fLaC' ||
    ascii(bytes, 0, 4) === 'OggS' ||
    (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WAVE') ||
    (ascii(bytes, 4, 8) === 'ftyp' && /M4A|M4B|mp42|isom|dash/.test(ascii(bytes, 8, 12)) && (byName === 'audio' || byMime === 'audio')) ||
    (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0 && (byName === 'audio' || byMime === 'audio'))
  ) {
    return 'audio';
  }

  const sample = Buffer.from(bytes.subarray(0, 8192)).toString('utf8');
  const shaped = textKind(sample.replace(/^\uFEFF/, ''));
  if (shaped === 'html' || shaped === 'feed' || shaped === 'ipynb') return shaped;
  if (shaped === 'xml' && (byName === 'html' || byName === 'feed')) return byName;
  if (byName && byName !== 'text') return byName;
  if (byMime && byMime !== 'text') return byMime;
  return shaped ?? byName ?? byMime ?? 'text';
}
