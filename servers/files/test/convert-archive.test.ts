import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FathomError } from '@fathom/core';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert, DEFAULT_LIMITS, renderMarkdown } from '../src/convert/index.js';
import type { ConvertedDocument, ConvertLimits } from '../src/convert/index.js';
import { call, connectFiles } from './security/helpers.js';

const PYTHON = '/usr/bin/python3';
const GENERATOR = join(import.meta.dirname, 'fixtures', 'archives.py');
const missing = existsSync(PYTHON) ? undefined : `${PYTHON} is missing (scripts/setup-system.sh installs it)`;
if (missing && !process.env.CI) console.log(`Skipping TAR and compressed-file tests: ${missing}`);
const describePython = missing && !process.env.CI ? describe.skip : describe;

let dir: string;
const escapeName = `fathom-tar-escape-${process.pid}-${Date.now()}`;
const read = (name: string, limits: Partial<ConvertLimits> = {}) =>
  convert({ bytes: readFileSync(join(dir, name)), name }, { limits: { ...DEFAULT_LIMITS, ...limits } });

async function refusal(promise: Promise<unknown>): Promise<FathomError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FathomError);
  return error as FathomError;
}

const section = (document: ConvertedDocument, name: string) => document.sections.find((s) => s.name === name)?.markdown;

beforeAll(() => {
  if (missing && !process.env.CI) return;
  dir = mkdtempSync(join(tmpdir(), 'fathom-archives-'));
  execFileSync(PYTHON, [GENERATOR, dir, escapeName], { stdio: ['ignore', 'ignore', 'inherit'] });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describePython('single compressed files', () => {
  it('reads a gzip-compressed Debian changelog as its text', async () => {
    const document = await read('changelog.Debian.gz');
    expect(document.info.type).toBe('text');
    expect(document.info.properties).toMatchObject({ compression: 'gzip', compressedBytes: expect.any(Number), decompressedBytes: 332 });
    expect(document.sections).toHaveLength(1);
    expect(document.sections[0]!.name).toBe('changelog.Debian');
    expect(document.sections[0]!.markdown).toMatch(/^fathom-data \(1\.2-1\) unstable; urgency=medium\n\n {2}\* New upstream release: reads compressed files\./);
  });

  it.each(['data.csv.gz', 'data.csv.bz2', 'data.csv.xz'])('reads %s as the table inside', async (name) => {
    const document = await read(name);
    expect(document.info.type).toBe('csv');
    expect(document.info.properties?.compression).toBe({ gz: 'gzip', bz2: 'bzip2', xz: 'xz' }[name.split('.').pop()!]);
    expect(document.sections[0]!.name).toBe('data.csv');
    expect(document.sections[0]!.tables?.[0]).toMatchObject({
      header: ['station', 'temperature'],
      rows: [
        ['Amber', '12.5'],
        ['Birch', '9.75'],
        ['Cedar', '14'],
      ],
    });
  });

  it("takes the inner name from gzip's header when the file's name has no suffix", async () => {
    const document = await read('download');
    expect(document.info.type).toBe('csv');
    expect(document.sections[0]!.name).toBe('readings.csv');
  });

  it.each(['zeros.gz', 'zeros.bz2', 'zeros.xz'])('refuses %s, 64 MB of zeros, as a bomb', async (name) => {
    const error = await refusal(read(name));
    expect(error.code).toBe('too_large');
    expect(error.message).toBe(`${name === 'zeros.gz' ? 'gzip' : name === 'zeros.bz2' ? 'bzip2' : 'xz'} bomb refused: ${name} expands more than 200 times its compressed size`);
    expect(error.hint).toBeTruthy();
  });

  it('holds the expanded size to the byte limit when the ratio is allowed', async () => {
    const error = await refusal(read('zeros.xz', { maxBytes: 8 * 1024 * 1024, maxZipRatio: 100_000 }));
    expect(error.code).toBe('too_large');
    expect(error.message).toBe('xz bomb refused: zeros.xz expands to more than the 8388608-byte limit');
  });

  it.each([
    ['cut.tar.gz', 'Corrupt gzip file: the compressed data ends early, so the file is truncated', 'gzip -t'],
    ['cut.tar.bz2', 'Corrupt bzip2 file: the compressed data ends early, so the file is truncated', 'bzip2 -t'],
    ['cut.tar.xz', 'Corrupt xz file: the compressed data ends early, so the file is truncated', 'xz -t'],
    ['claims.bz2', 'Corrupt bzip2 file: it is not bzip2 data', 'bzip2 -t'],
  ])('names %s as damaged', async (name, message, tool) => {
    const error = await refusal(read(name));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toBe(message);
    expect(error.hint).toContain(tool);
  });
});

describePython('tar archives', () => {
  it.each(['bundle.tar', 'bundle-gnu.tar', 'bundle-ustar.tar', 'bundle.tar.gz', 'bundle.tgz', 'bundle.tar.bz2', 'bundle.tar.xz'])(
    'lists %s, then converts each member as its own section',
    async (name) => {
      const document = await read(name);
      expect(document.info.type).toBe('tar');
      const [listing, ...members] = document.sections;
      expect(listing).toMatchObject({ kind: 'member', index: 1, name: '/' });
      expect(listing!.markdown).toMatch(/^## Contents\n\n\| path \| size \| modified \| type \|/);
      const long = `results/${'very-long-folder-name/'.repeat(6)}summary.md`;
      const names = [
        'project/notes.txt', 'project/data.csv', 'project/data.csv.gz', long, 'project/blob.bin', 'project/passwd',
        'project/notes-again.txt', 'project/pipe', `../../../../../../tmp/${escapeName}`, `/tmp/${escapeName}-absolute`,
      ];
      expect(listing!.tables?.[0]?.rows.map((row) => row[0])).toEqual(names);
      expect(listing!.tables?.[0]?.rows[0]).toEqual(['project/notes.txt', '36', '2026-09-21 14:13', 'file']);
      expect(members.map((member) => member.name)).toEqual(names);
      expect(document.info.outline).toEqual(names);

      expect(section(document, 'project/notes.txt')).toBe('## project/notes.txt\n\nPlain notes about the field season.');
      expect(section(document, 'project/data.csv')).toMatch(/\| *Birch *\| *9\.75 *\|/);
      const packed = document.sections.find((s) => s.name === 'project/data.csv.gz')!;
      expect(packed.markdown).toMatch(/\| *Cedar *\| *14 *\|/);
      expect(packed.tables?.[0]?.location).toMatch(/^project\/data\.csv\.gz, /);
      expect(section(document, long)).toContain('The long-named summary.');
      expect(section(document, 'project/blob.bin')).toContain('binary file');
    },
  );

  it('lists links and special files without following or reading them, and writes nothing', async () => {
    const document = await read('bundle.tar.gz');
    const rows = document.sections[0]!.tables![0]!.rows;
    expect(rows.find((row) => row[0] === 'project/passwd')?.[3]).toBe('symbolic link to /etc/passwd');
    expect(rows.find((row) => row[0] === 'project/notes-again.txt')?.[3]).toBe('hard link to project/notes.txt');
    expect(section(document, 'project/passwd')).toBe('## project/passwd\n\n*symbolic link to /etc/passwd: not followed*');
    expect(section(document, 'project/notes-again.txt')).toBe('## project/notes-again.txt\n\n*hard link to project/notes.txt: not followed*');
    expect(section(document, 'project/pipe')).toBe('## project/pipe\n\n*fifo: not read*');
    expect(document.info.notes).toContain('2 links listed, not followed.');
    expect(renderMarkdown(document)).not.toMatch(/root:x:0:0/);

    expect(section(document, `../../../../../../tmp/${escapeName}`)).toContain('I try to climb out.');
    expect(section(document, `/tmp/${escapeName}-absolute`)).toContain('I am absolute.');
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith(escapeName))).toEqual([]);
  });

  it('opens archives inside archives down to the nesting limit, then only lists', async () => {
    const document = await read('nested.tar');
    const inner = section(document, 'inner.zip')!;
    expect(inner).toContain('## deep.tar.gz');
    expect(inner).toContain('project/notes.txt');
    expect(inner).not.toContain('Plain notes about the field season.');
    expect(document.info.notes).toContain('inner.zip: deep.tar.gz: Archive nested 3 levels deep: members are listed, not opened (the limit is 3).');

    const deeper = await read('nested.tar', { maxNesting: 4 });
    expect(section(deeper, 'inner.zip')).toContain('Plain notes about the field season.');
  });

  it('stops a compressed member that is a bomb and reads the rest', async () => {
    const document = await read('bomb.tar');
    expect(section(document, 'readme.txt')).toContain('Open the other file.');
    expect(section(document, 'zeros.gz')).toBe('## zeros.gz\n\n*Not converted: gzip bomb refused: zeros.gz expands more than 200 times its compressed size*');
  });

  it('refuses too many members', async () => {
    const error = await refusal(read('many.tar', { maxZipMembers: 5 }));
    expect(error.code).toBe('too_large');
    expect(error.message).toBe('TAR bomb refused: more than 5 members');
    await expect(read('many.tar', { maxZipMembers: 12 })).resolves.toMatchObject({ info: { properties: { members: 12 } } });
  });

  it.each([
    ['cut-in-data.tar', 'Corrupt TAR archive: it ends inside the data of project/data.csv.gz (30 of 70 bytes), so the file is truncated'],
    ['cut-in-header.tar', 'Corrupt TAR archive: it ends inside a header at byte 2560, so the file is truncated'],
    ['damaged.tar', 'Corrupt TAR archive: the header at byte 512 is damaged (its checksum does not match)'],
    ['claims.tar', 'Not a TAR archive: its first header is not a TAR header'],
  ])('names %s as damaged', async (name, message) => {
    const error = await refusal(read(name));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toBe(message);
    expect(error.hint).toBeTruthy();
  });
});

describePython('read_document on archives', () => {
  let files: InMemoryConnection;
  beforeAll(async () => {
    if (dir) files = await connectFiles(dir);
  });
  afterAll(async () => {
    await files?.close();
  });

  it('reads a .tar.xz and a .csv.gz in the worker threads', async () => {
    const tar = await call(files.client, 'read_document', { source: 'bundle.tar.xz' });
    expect(tar.isError).toBe(false);
    expect(tar.structured?.type).toBe('tar');
    expect(tar.text).toContain('## project/notes.txt\n\nPlain notes about the field season.');
    const csv = await call(files.client, 'read_document', { source: 'data.csv.gz' });
    expect(csv.structured?.type).toBe('csv');
    expect(csv.text).toMatch(/\| *Amber *\| *12\.5 *\|/);
    const bomb = await call(files.client, 'read_document', { source: 'zeros.bz2' });
    expect(bomb.isError).toBe(true);
    expect(bomb.text).toContain('bzip2 bomb refused');
  });
});
