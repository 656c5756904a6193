import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, spawnServer } from './helpers.js';
import type { SpawnedServer } from './helpers.js';

// Inputs that once kept the server's main thread busy for minutes: every session waited.
let base: string;
let server: SpawnedServer;
let attacker: Client;
let witness: Client;

beforeAll(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'fathom-files-main-thread-')));
  mkdirSync(join(base, 'sub'));
  writeFileSync(join(base, 'a'.repeat(200)), 'no b at the end');
  writeFileSync(join(base, 'aaaaaaaaaab'), 'ten a and a b');
  writeFileSync(join(base, 'notes.md'), Array.from({ length: 12 }, (_, i) => `Line ${i + 1} of the notes.`).join('\n'));
  writeFileSync(join(base, 'sub', 'inner.txt'), 'inside');
  server = await spawnServer('files', ['--roots', base, '--cache-mode', 'off']);
  attacker = await server.session();
  witness = await server.session();
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(base, { recursive: true, force: true });
});

/** The attack and a witness's ordinary call, sent together; both must be answered. */
async function withWitness(attack: Promise<Awaited<ReturnType<typeof call>>>) {
  const [attacked, witnessed] = await Promise.all([attack, call(witness, 'list_files', { path: 'sub' })]);
  expect(witnessed.isError).toBe(false);
  expect(witnessed.text).toContain('inner.txt  (6 bytes)');
  return attacked;
}

describe('inputs that used to block the files server', () => {
  it('matches a glob of many stars against a long name at once, and correctly', async () => {
    const listed = await withWitness(call(attacker, 'list_files', { glob: '*a*a*a*a*a*a*a*a*a*ab' }));
    expect(listed.isError).toBe(false);
    expect((listed.structured?.entries as { path: string }[]).map((entry) => entry.path)).toEqual(['aaaaaaaaaab']);
  });

  it('refuses a pages list of too many ranges, naming the limit', async () => {
    const pages = Array.from({ length: 160 }, (_, i) => `${i + 1}-${i + 100_001}`).join(',');
    expect(pages.length).toBeGreaterThan(1600);
    const read = await withWitness(call(attacker, 'read_document', { source: 'notes.md', pages }));
    expect(read.isError).toBe(true);
    expect(read.text).toContain('pages lists 160 ranges; at most 100 are allowed');
  });

  it('still reads an ordinary pages list, and a range past the end up to the end', async () => {
    const read = await withWitness(call(attacker, 'read_document', { source: 'notes.md', pages: '1-99999999' }));
    expect(read.isError).toBe(false);
    expect(read.text).toContain('Line 12 of the notes.');
  });
});
