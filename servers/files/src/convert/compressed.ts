import { gunzipSync } from 'node:zlib';
import { FathomError } from '@fathom/core';
import Bunzip from 'seek-bzip';
import xz from 'xz-decompress';
import { RATIO_FLOOR } from './nested.js';
import type { ConvertedDocument, Converter, DocumentType } from './types.js';

type Format = 'gzip' | 'bzip2' | 'xz';

interface Cap {
  bytes: number;
  reason: string;
}

const TOOLS: Record<Format, string> = { gzip: 'gzip -t', bzip2: 'bzip2 -t', xz: 'xz -t' };

class OverCap extends Error {}

function damaged(format: Format, problem: string): FathomError {
  return new FathomError('invalid_argument', `Corrupt ${format} file: ${problem}`, {
    hint: `The file is truncated or damaged; download or copy it again (\`${TOOLS[format]} FILE\` checks it).`,
  });
}

function gunzip(bytes: Uint8Array, cap: Cap): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.max(1, cap.bytes) });
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new OverCap();
    if (code === 'Z_BUF_ERROR') throw damaged('gzip', 'the compressed data ends early, so the file is truncated');
    throw damaged('gzip', `the compressed data is damaged (${message ?? code})`);
  }
}

/** seek-bzip reads and writes a byte at a time through these, so the end of the input and the cap are both checked here. */
function bunzip(bytes: Uint8Array, cap: Cap): Uint8Array {
  let position = 0;
  const truncated = () => damaged('bzip2', 'the compressed data ends early, so the file is truncated');
  const input = {
    readByte() {
      if (position >= bytes.length) throw truncated();
      return bytes[position++]!;
    },
    read(buffer: Uint8Array, offset: number, length: number) {
      if (position + length > bytes.length) throw truncated();
      buffer.set(bytes.subarray(position, position + length), offset);
      position += length;
      return length;
    },
    seek(to: number) {
      position = to;
    },
    eof() {
      return position >= bytes.length;
    },
  };
  let out = new Uint8Array(Math.min(cap.bytes, Math.max(64 * 1024, bytes.length * 4)));
  let size = 0;
  const output = {
    writeByte(byte: number) {
      if (size === out.length) {
        if (size >= cap.bytes) throw new OverCap();
        const grown = new Uint8Array(Math.min(cap.bytes, size * 2));
        grown.set(out);
        out = grown;
      }
      out[size++] = byte;
    },
  };
  try {
    Bunzip.decode(input, output, true);
  } catch (error) {
    if (error instanceof OverCap || error instanceof FathomError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw damaged('bzip2', /^Not bzip data/.test(message) ? 'it is not bzip2 data' : `the compressed data is damaged (${message})`);
  }
  return out.subarray(0, size);
}

/** xz-embedded's return codes, as its error messages give them. */
const XZ_ERRORS: Record<string, string> = {
  '2': 'it uses an integrity check that is not supported',
  '4': 'it needs more memory to decode than allowed',
  '5': 'it is not xz data',
  '6': 'it uses options that are not supported',
  '7': 'the compressed data is damaged',
  '8': 'the compressed data ends early, so the file is truncated',
};

async function unxz(bytes: Uint8Array, cap: Cap): Promise<Uint8Array> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  const reader = new xz.XzReadableStream(source).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > cap.bytes) {
        await reader.cancel();
        throw new OverCap();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof OverCap) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const code = /error code (\d+)/.exec(message)?.[1];
    throw damaged('xz', XZ_ERRORS[code ?? ''] ?? `the compressed data is damaged (${message})`);
  }
  return Buffer.concat(chunks);
}

async function decompress(format: Format, bytes: Uint8Array, cap: Cap): Promise<Uint8Array> {
  try {
    if (format === 'gzip') return gunzip(bytes, cap);
    if (format === 'bzip2') return bunzip(bytes, cap);
    return await unxz(bytes, cap);
  } catch (error) {
    if (!(error instanceof OverCap)) throw error;
    throw new FathomError('too_large', `${format} bomb refused: ${cap.reason}`, {
      hint: 'The file expands beyond the safety limits; decompress it yourself and read the part you need.',
    });
  }
}

/** The original name gzip may keep in its header (FNAME), for a file whose own name has lost it. */
function gzipStoredName(bytes: Uint8Array): string | undefined {
  const flags = bytes[3] ?? 0;
  if (!(flags & 0x08)) return undefined;
  const start = flags & 0x04 ? 12 + ((bytes[10] ?? 0) | ((bytes[11] ?? 0) << 8)) : 10;
  const end = bytes.indexOf(0, start);
  if (end < 0) return undefined;
  const stored = Buffer.from(bytes.subarray(start, end)).toString('latin1');
  // eslint-disable-next-line no-control-regex
  return stored.slice(stored.lastIndexOf('/') + 1).replace(/[\u0000-\u001f\u007f]/g, '?') || undefined;
}

const SUFFIXES: [RegExp, string][] = [
  [/\.(tgz|taz)$/i, '.tar'],
  [/\.(tbz2?|tb2)$/i, '.tar'],
  [/\.txz$/i, '.tar'],
  [/\.(gz|gzip|bz2|bz|xz)$/i, ''],
];

function baseName(name: string | undefined): string | undefined {
  const path = (name ?? '').split(/[?#]/)[0]!;
  return path.slice(path.lastIndexOf('/') + 1) || undefined;
}

/** The name of what is inside: the file's name without its compression suffix ("data.csv.gz" holds "data.csv"). */
function innerName(name: string | undefined, stored: string | undefined): string {
  const path = (name ?? '').split(/[?#]/)[0]!;
  for (const [suffix, replacement] of SUFFIXES) {
    if (suffix.test(path)) return path.replace(suffix, replacement);
  }
  return stored ?? (path || 'decompressed');
}

/**
 * A single compressed file becomes the document inside it, converted by its inner name, one
 * archive level deeper and held to the archive limits: the total size, the ratio to the
 * compressed size, and the nesting depth.
 */
export const converter: Converter = {
  types: ['gzip', 'bzip2', 'xz'],
  async convert(input, type: DocumentType, options, inner): Promise<ConvertedDocument> {
    const format = type as Format;
    const { limits } = options;
    const name = innerName(input.name, format === 'gzip' ? gzipStoredName(input.bytes) : undefined);
    if (options.depth >= limits.maxNesting) {
      const note = `Compressed file nested ${options.depth} levels deep: not opened (the limit is ${limits.maxNesting}).`;
      return {
        info: { type, mimeType: '', notes: [note], properties: { compression: format, compressedBytes: input.bytes.length } },
        sections: [{ kind: 'body', index: 1, name, markdown: `*${format}-compressed ${name} (${input.bytes.length} bytes): not opened*` }],
      };
    }
    const subject = baseName(input.name) ?? 'the file';
    const ratioCap = Math.max(RATIO_FLOOR, input.bytes.length * limits.maxZipRatio);
    const cap =
      limits.maxBytes <= ratioCap
        ? { bytes: limits.maxBytes, reason: `${subject} expands to more than the ${limits.maxBytes}-byte limit` }
        : { bytes: ratioCap, reason: `${subject} expands more than ${limits.maxZipRatio} times its compressed size` };
    const bytes = await decompress(format, input.bytes, cap);
    let document: ConvertedDocument;
    try {
      document = await inner({ bytes, name, ...(input.url ? { url: input.url } : {}) }, { ...options, depth: options.depth + 1 });
    } catch (error) {
      if (!(error instanceof FathomError)) throw error;
      throw new FathomError(error.code, `${name} (decompressed from ${format}): ${error.message}`, error.hint ? { hint: error.hint } : {});
    }
    document.info.properties = { ...document.info.properties, compression: format, compressedBytes: input.bytes.length, decompressedBytes: bytes.length };
    return document;
  },
};
