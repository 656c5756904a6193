import { createDeflateRaw, crc32, deflateRawSync } from 'node:zlib';
import { FathomError } from '@fathom/core';
import JSZip from 'jszip';
import { beforeAll, describe, expect, it } from 'vitest';
import { convert, DEFAULT_LIMITS, renderMarkdown } from '../src/convert/index.js';
import type { ConvertLimits } from '../src/convert/index.js';

interface RawMember {
  name: string;
  /** The bytes as stored: already deflated when method is 8. */
  data: Uint8Array;
  method?: number;
  /** The expanded size the headers declare (may lie). */
  size: number;
  crc?: number;
  flags?: number;
}

/** A ZIP written byte by byte, so headers can say what a test needs (lies included). */
function rawZip(members: RawMember[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const name = Buffer.from(member.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(member.flags ?? 0, 6);
    local.writeUInt16LE(member.method ?? 8, 8);
    local.writeUInt16LE(0x6000, 10);
    local.writeUInt16LE(0x58a6, 12);
    local.writeUInt32LE(member.crc ?? 0, 14);
    local.writeUInt32LE(member.data.length, 18);
    local.writeUInt32LE(member.size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    local.copy(central, 8, 6, 30);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(member.data));
    centrals.push(central, name);
    offset += 30 + name.length + member.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, directory, end]));
}

function deflated(name: string, text: string): RawMember {
  const data = Buffer.from(text);
  return { name, data: deflateRawSync(data), size: data.length, crc: crc32(data) };
}

/** `megabytes` of zeros, deflated in a stream so the test never holds them. */
async function deflatedZeros(megabytes: number): Promise<Uint8Array> {
  const deflate = createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < megabytes; i++) deflate.write(zeros);
  deflate.end();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

async function refusal(promise: Promise<unknown>): Promise<FathomError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FathomError);
  return error as FathomError;
}

const limits = (changes: Partial<ConvertLimits>): ConvertLimits => ({ ...DEFAULT_LIMITS, ...changes });

let archive: Uint8Array;
let zeros200: Uint8Array;

beforeAll(async () => {
  const inner = new JSZip();
  inner.file('deep/readme.md', '# Inner readme\n\nNested text.');
  const zip = new JSZip();
  zip.file('notes.txt', 'Plain notes about the quarterly plan.');
  zip.file('data/sales.csv', 'region,units\nNorth,120\nSouth,95\n');
  zip.file('page.html', '<html><head><title>Page</title><script>var secret = 1;</script></head><body><h1>Report</h1><p>Visible paragraph.</p></body></html>');
  zip.file('inner.zip', await inner.generateAsync({ type: 'uint8array', compression: 'DEFLATE' }));
  zip.file('blob.bin', new Uint8Array([0, 1, 2, 0, 255, 0, 7, 0, 0, 9]));
  zip.file('__MACOSX/._notes.txt', 'resource fork');
  zip.file('.DS_Store', 'finder junk');
  zip.folder('empty-dir');
  zip.file('../escape.txt', 'I try to climb out.');
  archive = await zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
  zeros200 = await deflatedZeros(200);
});

describe('zip converter', () => {
  it('lists the members first, then converts each one as its own section', async () => {
    const document = await convert({ bytes: archive, name: 'bundle.zip' });
    expect(document.info.type).toBe('zip');
    const [listing, ...members] = document.sections;
    expect(listing).toMatchObject({ kind: 'member', index: 1, name: '/' });
    expect(listing!.markdown).toMatch(/^## Contents\n\n\| path \| size \| compressed \| modified \|/);
    expect(listing!.tables?.[0]?.header).toEqual(['path', 'size', 'compressed', 'modified']);
    expect(listing!.tables?.[0]?.rows.map((row) => row[0])).toEqual(
      expect.arrayContaining(['notes.txt', 'data/sales.csv', 'page.html', 'inner.zip', '../escape.txt']),
    );

    const names = members.map((section) => section.name);
    expect(names).toEqual(expect.arrayContaining(['notes.txt', 'data/sales.csv', 'page.html', 'inner.zip', 'blob.bin', '../escape.txt']));
    expect(names.some((name) => name.startsWith('__MACOSX') || name.endsWith('.DS_Store') || name.endsWith('/'))).toBe(false);
    expect(document.info.outline).toEqual(names);
    members.forEach((section, i) => {
      expect(section.kind).toBe('member');
      expect(section.index).toBe(i + 2);
      expect(section.markdown.startsWith(`## ${section.name}\n`)).toBe(true);
    });

    const byName = (name: string) => members.find((section) => section.name === name)!;
    expect(byName('notes.txt').markdown).toContain('Plain notes about the quarterly plan.');
    expect(byName('page.html').markdown).toContain('Visible paragraph.');
    expect(byName('page.html').markdown).not.toContain('secret');
    expect(byName('blob.bin').markdown).toContain('binary file');
    expect(byName('../escape.txt').markdown).toContain('I try to climb out.');

    const sales = byName('data/sales.csv');
    expect(sales.markdown).toMatch(/\| *North *\| *120 *\|/);
    expect(sales.tables?.[0]?.location).toMatch(/^data\/sales\.csv, /);
    expect(sales.tables?.[0]?.rows).toContainEqual(['North', '120']);

    const inner = byName('inner.zip').markdown;
    expect(inner).toContain('## Contents');
    expect(inner).toContain('## deep/readme.md');
    expect(inner).toContain('Nested text.');

    const all = renderMarkdown(document);
    expect(all).not.toMatch(/<script|<\/?(html|body|p)>/);
    expect(all).not.toContain('resource fork');
  });

  it('stops opening archives at the nesting limit and says so', async () => {
    const document = await convert({ bytes: archive, name: 'bundle.zip' }, { limits: limits({ maxNesting: 1 }) });
    const inner = document.sections.find((section) => section.name === 'inner.zip')!.markdown;
    expect(inner).toContain('## Contents');
    expect(inner).toContain('deep/readme.md');
    expect(inner).not.toContain('Nested text.');
    expect(document.info.notes?.join('\n')).toMatch(/inner\.zip: Archive nested 1 levels deep: members are listed, not opened/);

    const top = await convert({ bytes: archive, name: 'bundle.zip' }, { depth: 3 });
    expect(top.sections).toHaveLength(1);
    expect(top.info.notes?.[0]).toContain('not opened');
  });

  it('refuses a bomb from its declared sizes before inflating', async () => {
    const bytes = rawZip([{ name: 'zeros.bin', data: zeros200, size: 200 * 1024 * 1024 }]);
    const error = await refusal(convert({ bytes, name: 'bomb.zip' }));
    expect(error.code).toBe('too_large');
    expect(error.message).toMatch(/^ZIP bomb refused: zeros\.bin expands \d+ times its compressed size \(the limit is 200\)/);
    expect(error.hint).toBeTruthy();
  });

  it('stops inflating a member whose headers lie about its size', async () => {
    const bytes = rawZip([deflated('ok.txt', 'fine'), { name: 'liar.txt', data: zeros200, size: 1000 }]);
    const started = Date.now();
    const error = await refusal(convert({ bytes, name: 'liar.zip' }));
    expect(error.code).toBe('too_large');
    expect(error.message).toMatch(/ZIP bomb refused: liar\.txt expands more than 200 times its compressed size/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('enforces the total expanded size, declared or real', async () => {
    const zeros2 = await deflatedZeros(2);
    const generous = limits({ maxBytes: 5 * 1024 * 1024, maxZipRatio: 100_000 });
    const honest = rawZip(['a', 'b', 'c'].map((name) => ({ name: `${name}.txt`, data: zeros2, size: 2 * 1024 * 1024 })));
    const declared = await refusal(convert({ bytes: honest, name: 'big.zip' }, { limits: generous }));
    expect(declared.code).toBe('too_large');
    expect(declared.message).toBe('ZIP bomb refused: the members expand to 6291456 bytes, over the 5242880-byte limit');

    const lying = rawZip(['a', 'b', 'c'].map((name) => ({ name: `${name}.txt`, data: zeros2, size: 10 })));
    const real = await refusal(convert({ bytes: lying, name: 'big.zip' }, { limits: generous }));
    expect(real.code).toBe('too_large');
    expect(real.message).toContain('more than the 5242880-byte limit');
  });

  it('refuses too many members', async () => {
    const bytes = rawZip(Array.from({ length: 6 }, (_, i) => deflated(`f${i}.txt`, 'x')));
    const error = await refusal(convert({ bytes, name: 'many.zip' }, { limits: limits({ maxZipMembers: 5 }) }));
    expect(error.code).toBe('too_large');
    expect(error.message).toBe('ZIP bomb refused: 6 members, over the limit of 5');
  });

  it('notes encrypted and damaged members and converts the rest', async () => {
    const bytes = rawZip([
      { ...deflated('secret.txt', 'hidden words'), flags: 1 },
      { name: 'broken.txt', data: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x00]), size: 20 },
      deflated('fine.txt', 'readable words'),
    ]);
    const document = await convert({ bytes, name: 'mixed.zip' });
    const byName = (name: string) => document.sections.find((section) => section.name === name)!.markdown;
    expect(byName('secret.txt')).toBe('## secret.txt\n\n*encrypted member: not read*');
    expect(byName('broken.txt')).toMatch(/^## broken\.txt\n\n\*Not read: the compressed data of broken\.txt is damaged\*/);
    expect(byName('fine.txt')).toContain('readable words');
    expect(document.info.notes).toContain('secret.txt: encrypted member: not read');
    expect(renderMarkdown(document)).not.toContain('hidden words');
  });

  it('shows a member whose conversion fails and goes on', async () => {
    const bytes = rawZip([deflated('bad.zip', 'PK\u0003\u0004 not really a zip'), deflated('after.txt', 'still here')]);
    const document = await convert({ bytes, name: 'outer.zip' });
    expect(document.sections.find((section) => section.name === 'bad.zip')!.markdown).toMatch(/^## bad\.zip\n\n\*Not converted: Corrupt ZIP archive: /);
    expect(document.sections.find((section) => section.name === 'after.txt')!.markdown).toContain('still here');
  });

  it('names a truncated archive as corrupt', async () => {
    const error = await refusal(convert({ bytes: archive.subarray(0, Math.floor(archive.length / 2)), name: 'cut.zip' }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/^Corrupt ZIP archive: its central directory .* is missing/);
    expect(error.hint).toContain('truncated');
  });
});
