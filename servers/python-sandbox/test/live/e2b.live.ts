// A round trip through real E2B sandboxes. Not part of `npm test` (E2B is a paid remote service
// no CI machine reaches): run it with E2B_API_KEY set, `npm run test:e2b`.
import { createLogger } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2BBackend } from '../../src/backends/e2b.js';
import type { Sandbox } from '../../src/backends/types.js';

const logger = createLogger('e2b-live', { level: 'silent' });

const apiKey = process.env.E2B_API_KEY;
if (!apiKey) throw new Error('The live E2B tests need E2B_API_KEY: E2B is a paid remote service. Set it and run `npm run test:e2b` again.');

describe('E2B live round trip', () => {
  const backend = new E2BBackend({ apiKey, sandboxTimeoutMs: 300_000, logger });
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await backend.create();
  }, 120_000);

  afterAll(async () => {
    await backend.close();
  }, 60_000);

  it('keeps kernel state between cells', async () => {
    expect((await sandbox.runPython('x = 41', { timeoutMs: 60_000, keepBytes: 10_000 })).error).toBeUndefined();
    expect((await sandbox.runPython('x + 1', { timeoutMs: 60_000, keepBytes: 10_000 })).value).toBe('42');
  }, 120_000);

  it('runs shell commands', async () => {
    const output = await sandbox.runShell('echo hi; exit 3', { timeoutMs: 60_000, keepBytes: 10_000 });
    expect(output).toMatchObject({ exitCode: 3, stdout: { text: 'hi\n' }, timedOut: false });
  }, 120_000);

  it('writes and reads files', async () => {
    const path = await sandbox.writeFile('live/check.txt', new TextEncoder().encode('hello'));
    expect(path).toBe('/home/user/live/check.txt');
    expect(new TextDecoder().decode(await sandbox.readFile(path, 1000))).toBe('hello');
    expect(await sandbox.listFiles('live', false)).toEqual([expect.objectContaining({ path, type: 'file', size: 5 })]);
  }, 120_000);

  it('closes', async () => {
    await sandbox.close();
    await expect(sandbox.runShell('true', { timeoutMs: 10_000, keepBytes: 100 })).rejects.toMatchObject({ code: 'not_found' });
  });
});
