import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition } from '../../src/server.js';
import { encryptedWorkbook } from '../fixtures/workbooks.js';
import { call, connectFiles } from './helpers.js';

// Bad files whose errors used to send the agent the wrong way.
let base: string;
const connections: InMemoryConnection[] = [];

async function connect(flags: Record<string, string> = {}): Promise<InMemoryConnection> {
  const connection = await connectFiles(base, flags);
  connections.push(connection);
  return connection;
}

const DEEP = 200_000;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'fathom-files-errors-')));
  // ZIP local headers with every flag bit set: SheetJS calls that "ZIP encryption".
  writeFileSync(join(base, 'garbage.xlsx'), Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(200, 0xff)]));
  writeFileSync(join(base, 'empty.xlsx'), Buffer.alloc(0));
  writeFileSync(join(base, 'locked.xlsx'), encryptedWorkbook());
  writeFileSync(join(base, 'deep.json'), '['.repeat(DEEP) + ']'.repeat(DEEP));
  writeFileSync(join(base, 'deep.jsonl'), '{"ok": 1}\n' + '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP) + '\n');
  writeFileSync(join(base, 'deep.yaml'), 'a: ' + '['.repeat(DEEP) + ']'.repeat(DEEP) + '\n');
  const output = `{"output_type": "execute_result", "data": {"application/json": ${'['.repeat(DEEP) + ']'.repeat(DEEP)}}}`;
  writeFileSync(join(base, 'deep.ipynb'), `{"nbformat": 4, "cells": [{"cell_type": "code", "source": "x", "outputs": [${output}]}]}`);
  writeFileSync(join(base, 'deep.xml'), '<a>'.repeat(DEEP) + '</a>'.repeat(DEEP));
  writeFileSync(join(base, 'deep.html'), `<html><body>${'<div>'.repeat(10_000)}<p>${'Deep words here. '.repeat(20)}</p>${'</div>'.repeat(10_000)}</body></html>`);
  writeFileSync(join(base, 'fine.json'), JSON.stringify({ deep: [[[[{ a: 1 }]]]] }));
  writeFileSync(join(base, 'backtrack.txt'), `${'a'.repeat(40)}!\nsecond line\n`);
  mkdirSync(join(base, 'many'));
  for (let i = 0; i < 20_000; i++) writeFileSync(join(base, 'many', `file-${String(i).padStart(5, '0')}.txt`), '');
}, 120_000);

afterAll(async () => {
  for (const connection of connections) await connection.close();
  await definition.shutdown();
  rmSync(base, { recursive: true, force: true });
});

describe('errors that say what is wrong', () => {
  it('calls a garbage or empty .xlsx unreadable, not encrypted, and keeps "encrypted" for an encrypted one', async () => {
    const files = await connect();
    for (const source of ['garbage.xlsx', 'empty.xlsx']) {
      const read = await call(files.client, 'read_document', { source });
      expect(read.isError, source).toBe(true);
      expect(read.text, source).toContain('not a readable spreadsheet');
      expect(read.text, source).not.toMatch(/password|encrypt/i);
    }
    const locked = await call(files.client, 'read_document', { source: 'locked.xlsx' });
    expect(locked.isError).toBe(true);
    expect(locked.text).toContain('Encrypted spreadsheet: a password is needed to read it');
  });

  it('says JSON, JSONL, YAML, notebooks and XML nested too deep are too deep, with the limit', async () => {
    const files = await connect();
    const witness = await connect();
    for (const source of ['deep.json', 'deep.jsonl', 'deep.yaml', 'deep.ipynb', 'deep.xml']) {
      const read = await call(files.client, 'read_document', { source });
      expect(read.isError, source).toBe(true);
      expect(read.text, source).toMatch(/nested more than 500 levels deep, deeper than can be read/);
      expect(read.text, source).not.toMatch(/call stack|nested tags/i);
      const fine = await call(witness.client, 'read_document', { source: 'fine.json' });
      expect(fine.text).toContain('"a": 1');
    }
  });

  it('reads HTML nested too deep as its text, saying so', async () => {
    const files = await connect();
    const read = await call(files.client, 'read_document', { source: 'deep.html' });
    expect(read.isError).toBe(false);
    expect(read.text).toContain('Deep words here.');
    expect(read.text).toContain('> Elements nested more than 500 levels deep were too deep to keep: their text is shown without markup.');
  });

  it('says a listing was cut, how many entries it left out and how to narrow it', async () => {
    const files = await connect();
    const listed = await call(files.client, 'list_files', { path: 'many', max_entries: 5000 });
    expect(listed.isError).toBe(false);
    expect(listed.structured?.truncated).toBe(true);
    expect(listed.structured?.not_shown).toBe(15_000);
    const lines = listed.text.split('\n');
    expect(lines).toHaveLength(5002);
    expect(lines[0]).toContain('5000 entries matching "*" (first 5000; narrow the glob or list a subfolder)');
    expect(lines.at(-1)).toBe(
      '[Cut at 5000 of 20000 matching entries: 15000 not shown. Narrow the list with a glob (e.g. "*.pdf", "**/*.csv"), or list a subfolder as path.]',
    );
    expect(listed.text).not.toContain('raise max_entries');
  });

  it('says a regular expression that ran out of time is too costly, and suggests plain text', async () => {
    const files = await connect({ 'conversion-timeout-seconds': '5' });
    const witness = await connect({ 'conversion-timeout-seconds': '5' });
    // Converted first, so that the time limit is all the search's.
    expect((await call(files.client, 'read_document', { source: 'backtrack.txt' })).isError).toBe(false);
    const [searched, fine] = await Promise.all([
      call(files.client, 'search_document', { source: 'backtrack.txt', query: '^(a+)+$', regex: true }),
      call(witness.client, 'search_document', { source: 'backtrack.txt', query: 'second' }),
    ]);
    expect(searched.isError).toBe(true);
    expect(searched.text).toContain('The regular expression took longer than 5 s');
    expect(searched.text).toContain('regex: false');
    expect(searched.text).not.toContain('fewer pages');
    expect(fine.text).toContain('1 matching line for "second"');
  }, 30_000);
});
