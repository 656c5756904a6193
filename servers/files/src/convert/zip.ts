import { inflateRawSync } from 'node:zlib';
import { FathomError } from '@fathom/core';
import iconv from 'iconv-lite';
import { convertMember, RATIO_FLOOR, underHeading } from './nested.js';
import { gfmTable } from './markdown.js';
import type { ConvertedDocument, ConvertOptions, Converter, Section } from './types.js';

interface Entry {
  /** The name as stored, made safe to show: no control characters, forward slashes. */
  path: string;
  flags: number;
  method: number;
  compressedSize: number;
  size: number;
  offset: number;
  modified: string;
}

const HINT = 'The archive expands beyond the safety limits; extract the members you need and convert them one by one.';

function corrupt(problem: string): FathomError {
  return new FathomError('invalid_argument', `Corrupt ZIP archive: ${problem}`, {
    hint: 'The file is truncated or damaged; download or copy it again, or repair it with `zip -FF`.',
  });
}

function bomb(reason: string): FathomError {
  return new FathomError('too_large', `ZIP bomb refused: ${reason}`, { hint: HINT });
}

class Reader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  check(offset: number, length: number, what: string) {
    if (offset < 0 || offset + length > this.bytes.length) throw corrupt(`${what} lies outside the file`);
  }
  u16(offset: number) {
    this.check(offset, 2, 'a header');
    return this.view.getUint16(offset, true);
  }
  u32(offset: number) {
    this.check(offset, 4, 'a header');
    return this.view.getUint32(offset, true);
  }
  u64(offset: number) {
    this.check(offset, 8, 'a header');
    return Number(this.view.getBigUint64(offset, true));
  }
}

function dosDate(date: number, time: number): string {
  if (date === 0) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${1980 + (date >> 9)}-${pad((date >> 5) & 15)}-${pad(date & 31)} ${pad(time >> 11)}:${pad((time >> 5) & 63)}`;
}

function decodeName(raw: Uint8Array, utf8: boolean): string {
  let name: string;
  try {
    name = new TextDecoder('utf-8', { fatal: !utf8 }).decode(raw);
  } catch {
    name = iconv.decode(Buffer.from(raw), 'cp437');
  }
  // eslint-disable-next-line no-control-regex
  return name.replace(/\\/g, '/').replace(/[\u0000-\u001f\u007f]/g, '?');
}

function findEndOfDirectory(reader: Reader): number {
  const { bytes } = reader;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (bytes[at] === 0x50 && bytes[at + 1] === 0x4b && bytes[at + 2] === 0x05 && bytes[at + 3] === 0x06) return at;
  }
  throw corrupt('its central directory (the list of members at the end) is missing, so the file is truncated or not a ZIP');
}

/** The central directory: names, sizes and offsets of every member, as the archive declares them. */
function readDirectory(bytes: Uint8Array, maxMembers: number): Entry[] {
  const reader = new Reader(bytes);
  const end = findEndOfDirectory(reader);
  let count = reader.u16(end + 10);
  let start = reader.u32(end + 16);
  if ((count === 0xffff || start === 0xffffffff) && reader.u32(end - 20) === 0x07064b50) {
    const zip64 = reader.u64(end - 12);
    if (reader.u32(zip64) !== 0x06064b50) throw corrupt('its ZIP64 directory record is missing');
    count = reader.u64(zip64 + 32);
    start = reader.u64(zip64 + 48);
  }
  if (count > maxMembers) throw bomb(`${count} members, over the limit of ${maxMembers}`);

  const entries: Entry[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    if (reader.u32(at) !== 0x02014b50) throw corrupt(`central directory entry ${i + 1} is damaged`);
    const flags = reader.u16(at + 8);
    const nameLength = reader.u16(at + 28);
    const extraLength = reader.u16(at + 30);
    const commentLength = reader.u16(at + 32);
    reader.check(at + 46, nameLength + extraLength, 'a member name');
    const entry: Entry = {
      path: decodeName(bytes.subarray(at + 46, at + 46 + nameLength), (flags & 0x800) !== 0),
      flags,
      method: reader.u16(at + 10),
      compressedSize: reader.u32(at + 20),
      size: reader.u32(at + 24),
      offset: reader.u32(at + 42),
      modified: dosDate(reader.u16(at + 14), reader.u16(at + 12)),
    };
    readZip64Extra(reader, at + 46 + nameLength, extraLength, entry);
    entries.push(entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** ZIP64 keeps sizes and offsets over 4 GB in an extra field, in this order, only those that overflowed. */
function readZip64Extra(reader: Reader, start: number, length: number, entry: Entry) {
  for (let at = start; at + 4 <= start + length; ) {
    const id = reader.u16(at);
    const size = reader.u16(at + 2);
    if (id === 0x0001) {
      let field = at + 4;
      for (const key of ['size', 'compressedSize', 'offset'] as const) {
        if (entry[key] !== 0xffffffff || field + 8 > at + 4 + size) continue;
        entry[key] = reader.u64(field);
        field += 8;
      }
    }
    at += 4 + size;
  }
}

function isJunk(path: string): boolean {
  return path.endsWith('/') || path.startsWith('__MACOSX/') || path === '.DS_Store' || path.endsWith('/.DS_Store');
}

/** A member's bytes, inflated with a hard cap: the declared sizes are not trusted. */
function inflate(bytes: Uint8Array, entry: Entry, cap: { bytes: number; reason: string }): Uint8Array {
  const reader = new Reader(bytes);
  if (reader.u32(entry.offset) !== 0x04034b50) throw corrupt(`the local header of ${entry.path} is missing`);
  const start = entry.offset + 30 + reader.u16(entry.offset + 26) + reader.u16(entry.offset + 28);
  reader.check(start, entry.compressedSize, `the data of ${entry.path}`);
  const data = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) {
    if (data.length > cap.bytes) throw bomb(cap.reason);
    return data;
  }
  try {
    return inflateRawSync(data, { maxOutputLength: Math.max(1, cap.bytes) });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw bomb(cap.reason);
    throw new FathomError('invalid_argument', `the compressed data of ${entry.path} is damaged`, {
      hint: 'The archive is corrupt; download or copy it again.',
    });
  }
}

const METHODS: Record<number, string> = { 9: 'Deflate64', 12: 'bzip2', 14: 'LZMA', 93: 'Zstandard', 95: 'XZ', 98: 'PPMd' };

/** Why a member cannot be read at all, before any inflating. */
function unreadable(entry: Entry): string | undefined {
  if (entry.flags & 1 || entry.method === 99) return 'encrypted member: not read';
  if (entry.method !== 0 && entry.method !== 8) return `compressed with ${METHODS[entry.method] ?? `method ${entry.method}`}, which is not supported: not read`;
  return undefined;
}

export const converter: Converter = {
  types: ['zip'],
  async convert(input, _type, options, inner): Promise<ConvertedDocument> {
    const { limits } = options;
    const entries = readDirectory(input.bytes, limits.maxZipMembers).filter((entry) => !isJunk(entry.path));
    const notes: string[] = [];
    const listingOnly = options.depth >= limits.maxNesting;
    if (listingOnly) notes.push(`Archive nested ${options.depth} levels deep: members are listed, not opened (the limit is ${limits.maxNesting}).`);
    else checkDeclaredSizes(entries, options);

    const header = ['path', 'size', 'compressed', 'modified'];
    const rows = entries.map((entry) => [entry.path, String(entry.size), String(entry.compressedSize), entry.modified]);
    const listing: Section = {
      kind: 'member',
      index: 1,
      name: '/',
      markdown: `## Contents\n\n${entries.length ? gfmTable(header, rows) : '*The archive is empty.*'}`,
      tables: [{ location: 'contents', header, rows }],
    };
    const sections: Section[] = [listing];

    let remaining = limits.maxBytes;
    for (const entry of listingOnly ? [] : entries) {
      const section: Section = { kind: 'member', index: sections.length + 1, name: entry.path, markdown: '' };
      sections.push(section);
      const problem = unreadable(entry);
      if (problem) {
        section.markdown = `## ${entry.path}\n\n*${problem}*`;
        notes.push(`${entry.path}: ${problem}`);
        continue;
      }
      const ratioCap = entry.compressedSize * limits.maxZipRatio;
      const cap =
        remaining <= Math.max(RATIO_FLOOR, ratioCap)
          ? { bytes: remaining, reason: `the members expand to more than the ${limits.maxBytes}-byte limit` }
          : { bytes: Math.max(RATIO_FLOOR, ratioCap), reason: `${entry.path} expands more than ${limits.maxZipRatio} times its compressed size` };
      let bytes: Uint8Array;
      try {
        bytes = inflate(input.bytes, entry, cap);
      } catch (error) {
        if (error instanceof FathomError && error.code === 'too_large') throw error;
        section.markdown = `## ${entry.path}\n\n*Not read: ${error instanceof Error ? error.message : String(error)}*`;
        continue;
      }
      remaining -= bytes.length;
      const member = await convertMember(bytes, entry.path, options, remaining, inner);
      section.markdown = underHeading(entry.path, member.markdown);
      if (member.tables.length) section.tables = member.tables;
      notes.push(...member.notes);
    }

    return {
      info: {
        type: 'zip',
        mimeType: 'application/zip',
        outline: entries.map((entry) => entry.path),
        ...(notes.length ? { notes } : {}),
        properties: {
          members: entries.length,
          expandedBytes: entries.reduce((sum, entry) => sum + entry.size, 0),
          compressedBytes: entries.reduce((sum, entry) => sum + entry.compressedSize, 0),
        },
      },
      sections,
    };
  },
};

function checkDeclaredSizes(entries: Entry[], options: ConvertOptions) {
  const { maxBytes, maxZipRatio } = options.limits;
  let total = 0;
  for (const entry of entries) {
    if (unreadable(entry)) continue;
    total += entry.size;
    if (entry.size > RATIO_FLOOR && entry.size > entry.compressedSize * maxZipRatio) {
      throw bomb(`${entry.path} expands ${Math.round(entry.size / Math.max(1, entry.compressedSize))} times its compressed size (the limit is ${maxZipRatio})`);
    }
  }
  if (total > maxBytes) throw bomb(`the members expand to ${total} bytes, over the ${maxBytes}-byte limit`);
}
