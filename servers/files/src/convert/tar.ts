import { FathomError } from '@fathom/core';
import { gfmTable } from './markdown.js';
import { convertMember, underHeading } from './nested.js';
import type { ConvertedDocument, Converter, Section } from './types.js';

const BLOCK = 512;

interface Entry {
  /** The name as stored (a pax or GNU long name when there is one), made safe to show. */
  path: string;
  kind: 'file' | 'symbolic link' | 'hard link' | 'directory' | 'character device' | 'block device' | 'fifo' | 'sparse file' | 'other';
  link?: string;
  size: number;
  /** Where the member's data starts in the archive. */
  offset: number;
  modified: string;
}

const KINDS: Record<string, Entry['kind']> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hard link', '2': 'symbolic link', '3': 'character device', '4': 'block device',
  '5': 'directory', '6': 'fifo', S: 'sparse file',
};

function corrupt(problem: string): FathomError {
  return new FathomError('invalid_argument', `Corrupt TAR archive: ${problem}`, {
    hint: 'The file is truncated or damaged; download or copy it again. `tar -tvf FILE` shows how far it can be read.',
  });
}

/** Header numbers are octal text, or base-256 (high bit of the first byte set) when they do not fit. */
function number(header: Uint8Array, start: number, length: number): number {
  const field = header.subarray(start, start + length);
  if (field[0]! & 0x80) {
    if (field[0] === 0xff) return NaN;
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const text = Buffer.from(field).toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

function checksumMatches(header: Uint8Array): boolean {
  const stored = number(header, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** A NUL-terminated header field: UTF-8, or Latin-1 when it is not valid UTF-8. */
function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  const raw = end === -1 ? bytes : bytes.subarray(0, end);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return Buffer.from(raw).toString('latin1');
  }
}

function safe(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** Records of a pax extended header: "LENGTH key=value\n", the length counting the whole record. */
function paxRecords(data: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  const content = Buffer.from(data).toString('utf8');
  for (let at = 0; at < content.length; ) {
    const space = content.indexOf(' ', at);
    const length = Number(content.slice(at, space));
    if (space < 0 || !Number.isSafeInteger(length) || length <= 0) break;
    const record = content.slice(space + 1, at + length).replace(/\n$/, '');
    const equals = record.indexOf('=');
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}

function date(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return '';
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

interface Listing {
  entries: Entry[];
  ended: boolean;
}

/** Every header in order, the data skipped over; nothing is written anywhere, links are only recorded. */
function readEntries(bytes: Uint8Array, maxMembers: number): Listing {
  const entries: Entry[] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  const globalPax: Record<string, string> = {};
  let at = 0;
  for (let index = 1; at < bytes.length; index++) {
    if (at + BLOCK > bytes.length) throw corrupt(`it ends inside a header at byte ${at}, so the file is truncated`);
    const header = bytes.subarray(at, at + BLOCK);
    if (header.every((byte) => byte === 0)) return { entries, ended: true };
    if (!checksumMatches(header)) {
      throw index === 1
        ? new FathomError('invalid_argument', 'Not a TAR archive: its first header is not a TAR header', {
            hint: 'Check the file type; a compressed archive needs its own extension (.tar.gz, .tgz, .tar.bz2, .tar.xz).',
          })
        : corrupt(`the header at byte ${at} is damaged (its checksum does not match)`);
    }
    const type = String.fromCharCode(header[156]!);
    const size = Number(pax.size ?? number(header, 124, 12));
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(`the header at byte ${at} has no valid size`);
    const posix = Buffer.from(header.subarray(257, 263)).toString('latin1') === 'ustar\0';
    const prefix = posix && header[345] ? `${text(header.subarray(345, 500))}/` : '';
    const path = safe(pax.path ?? longName ?? globalPax.path ?? prefix + text(header.subarray(0, 100)));
    const offset = at + BLOCK;
    if (offset + size > bytes.length) {
      throw corrupt(`it ends inside the data of ${path} (${bytes.length - offset} of ${size} bytes), so the file is truncated`);
    }
    const data = bytes.subarray(offset, offset + size);
    at = offset + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'L') longName = text(data);
    else if (type === 'K') longLink = text(data);
    else if (type === 'x') pax = paxRecords(data);
    else if (type === 'g') Object.assign(globalPax, paxRecords(data));
    else if (type !== 'V') {
      const kind = KINDS[type] ?? 'other';
      const link = kind === 'symbolic link' || kind === 'hard link' ? (pax.linkpath ?? longLink ?? text(header.subarray(157, 257))) : undefined;
      entries.push({
        path,
        kind,
        ...(link !== undefined ? { link: safe(link) } : {}),
        size: kind === 'file' ? size : 0,
        offset,
        modified: date(Number(pax.mtime ?? number(header, 136, 12))),
      });
      if (entries.length > maxMembers) {
        throw new FathomError('too_large', `TAR bomb refused: more than ${maxMembers} members`, {
          hint: 'The archive holds more members than the safety limit; extract the ones you need and convert them one by one.',
        });
      }
      longName = undefined;
      longLink = undefined;
      pax = {};
    }
  }
  return { entries, ended: false };
}

function describe(entry: Entry): string {
  if (entry.link !== undefined) return `${entry.kind} to ${entry.link}`;
  return entry.kind;
}

export const converter: Converter = {
  types: ['tar'],
  async convert(input, _type, options, inner): Promise<ConvertedDocument> {
    const { limits } = options;
    const { entries: all, ended } = readEntries(input.bytes, limits.maxZipMembers);
    const entries = all.filter((entry) => entry.kind !== 'directory');
    const notes: string[] = [];
    if (!ended && all.length) notes.push('The archive has no end marker: it may be truncated after its last listed member.');
    const listingOnly = options.depth >= limits.maxNesting;
    if (listingOnly) notes.push(`Archive nested ${options.depth} levels deep: members are listed, not opened (the limit is ${limits.maxNesting}).`);

    const header = ['path', 'size', 'modified', 'type'];
    const rows = entries.map((entry) => [entry.path, String(entry.size), entry.modified, describe(entry)]);
    const sections: Section[] = [
      {
        kind: 'member',
        index: 1,
        name: '/',
        markdown: `## Contents\n\n${entries.length ? gfmTable(header, rows) : '*The archive is empty.*'}`,
        tables: [{ location: 'contents', header, rows }],
      },
    ];

    const links = entries.filter((entry) => entry.link !== undefined).length;
    if (links) notes.push(`${links} link${links === 1 ? '' : 's'} listed, not followed.`);
    let remaining = limits.maxBytes;
    for (const entry of listingOnly ? [] : entries) {
      const section: Section = { kind: 'member', index: sections.length + 1, name: entry.path, markdown: '' };
      sections.push(section);
      if (entry.kind !== 'file') {
        section.markdown = `## ${entry.path}\n\n*${describe(entry)}: ${entry.link !== undefined ? 'not followed' : 'not read'}*`;
        continue;
      }
      const bytes = input.bytes.subarray(entry.offset, entry.offset + entry.size);
      remaining -= bytes.length;
      const member = await convertMember(bytes, entry.path, options, remaining, inner);
      section.markdown = underHeading(entry.path, member.markdown);
      if (member.tables.length) section.tables = member.tables;
      notes.push(...member.notes);
    }

    return {
      info: {
        type: 'tar',
        mimeType: 'application/x-tar',
        outline: entries.map((entry) => entry.path),
        ...(notes.length ? { notes } : {}),
        properties: { members: entries.length, expandedBytes: entries.reduce((sum, entry) => sum + entry.size, 0) },
      },
      sections,
    };
  },
};
