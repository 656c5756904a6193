import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FathomError } from '../src/errors.js';
import type { ErrorCode } from '../src/errors.js';
import { resolveWithinRoots } from '../src/paths.js';

// base/
//   root/          a.txt, sub/b.txt, escape -> ../outside, dangling -> ../outside/not-yet.txt
//   outside/       secret.txt
//   other/         c.txt
//   root-evil/     d.txt (shares root's name as a prefix)
//   root-link -> root
let base: string;
let root: string;
let outside: string;
let other: string;
let rootLink: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'fathom-paths-')));
  root = join(base, 'root');
  outside = join(base, 'outside');
  other = join(base, 'other');
  rootLink = join(base, 'root-link');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  mkdirSync(other);
  mkdirSync(join(base, 'root-evil'));
  writeFileSync(join(root, 'a.txt'), 'a');
  writeFileSync(join(root, 'sub', 'b.txt'), 'b');
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  writeFileSync(join(other, 'c.txt'), 'c');
  writeFileSync(join(base, 'root-evil', 'd.txt'), 'd');
  symlinkSync('../outside', join(root, 'escape'));
  symlinkSync('../outside/not-yet.txt', join(root, 'dangling'));
  symlinkSync(root, rootLink);
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

async function refusal(path: string, roots: readonly string[], code: ErrorCode = 'forbidden'): Promise<FathomError> {
  const error = await resolveWithinRoots(path, roots).then(
    (resolved) => new Error(`expected ${path} to be refused, got ${resolved}`),
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(FathomError);
  expect((error as FathomError).code).toBe(code);
  return error as FathomError;
}

describe('resolveWithinRoots', () => {
  it('resolves existing files inside the root, relative or absolute', async () => {
    expect(await resolveWithinRoots('a.txt', [root])).toBe(join(root, 'a.txt'));
    expect(await resolveWithinRoots('sub/b.txt', [root])).toBe(join(root, 'sub', 'b.txt'));
    expect(await resolveWithinRoots(join(root, 'sub'), [root])).toBe(join(root, 'sub'));
    expect(await resolveWithinRoots('.', [root])).toBe(root);
    expect(await resolveWithinRoots('sub/../a.txt', [root])).toBe(join(root, 'a.txt'));
  });

  it('resolves files that do not exist yet, at any depth', async () => {
    expect(await resolveWithinRoots('new.txt', [root])).toBe(join(root, 'new.txt'));
    expect(await resolveWithinRoots('sub/new/deeper/file.md', [root])).toBe(join(root, 'sub', 'new', 'deeper', 'file.md'));
  });

  it('refuses .. escapes', async () => {
    const error = await refusal('../outside/secret.txt', [root]);
    expect(error.message).toContain('outside the folders this server may read');
    expect(error.hint).toContain(root);
    await refusal('sub/../../outside/secret.txt', [root]);
    await refusal('..', [root]);
  });

  it('refuses absolute paths outside the roots, including a sibling sharing the prefix', async () => {
    await refusal(join(outside, 'secret.txt'), [root]);
    await refusal('/etc/passwd', [root]);
    await refusal(join(base, 'root-evil', 'd.txt'), [root]);
  });

  it('refuses a symbolic link inside a root that points outside', async () => {
    await refusal('escape', [root]);
    await refusal('escape/secret.txt', [root]);
  });

  it('refuses a file that does not exist yet under a linked folder pointing outside', async () => {
    await refusal('escape/new.txt', [root]);
    await refusal('escape/new/dir/file.txt', [root]);
  });

  it('refuses a dangling link inside a root whose target is outside', async () => {
    await refusal('dangling', [root]);
    await refusal(join(root, 'dangling'), [root]);
  });

  it('resolves a path under a file (which cannot exist) instead of failing with ENOTDIR', async () => {
    expect(await resolveWithinRoots('a.txt/child', [root])).toBe(join(root, 'a.txt', 'child'));
  });

  it('accepts a root that is itself a symbolic link', async () => {
    expect(await resolveWithinRoots('a.txt', [rootLink])).toBe(join(root, 'a.txt'));
    expect(await resolveWithinRoots(join(rootLink, 'sub', 'b.txt'), [rootLink])).toBe(join(root, 'sub', 'b.txt'));
    expect(await resolveWithinRoots(join(root, 'new.txt'), [rootLink])).toBe(join(root, 'new.txt'));
    await refusal('escape/secret.txt', [rootLink]);
  });

  it('refuses a NUL byte', async () => {
    const error = await refusal('a.txt\0.png', [root], 'invalid_argument');
    expect(error.message).toContain('NUL');
  });

  it('accepts paths in any of several roots and resolves relative paths against the first', async () => {
    const roots = [root, other];
    expect(await resolveWithinRoots(join(other, 'c.txt'), roots)).toBe(join(other, 'c.txt'));
    expect(await resolveWithinRoots('a.txt', roots)).toBe(join(root, 'a.txt'));
    expect(await resolveWithinRoots('../other/c.txt', roots)).toBe(join(other, 'c.txt'));
    await refusal(join(outside, 'secret.txt'), roots);
  });

  it('refuses everything when no roots are open', async () => {
    const error = await refusal('a.txt', []);
    expect(error.message).toBe('No folders are open to this server');
  });
});
