import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FathomError } from '@fathom/core';
import { WORKSPACE } from './types.js';
import type { Identity } from './volume.js';

/**
 * The host's only direct access to a workspace folder that sandboxed code can change at any
 * moment: files named by one fresh component right under the folder itself (which the sandbox
 * cannot move or replace, being its mount point), opened without following links. Everything that
 * walks paths (listing, resolving a file to read or where to put one) happens inside the sandbox.
 */
export class HostWorkspace {
  constructor(
    readonly dir: string,
    private readonly owner: Identity | undefined,
    private readonly quotaMb: number,
  ) {}

  /** Writes bytes to a fresh file at the workspace root, owned by the sandbox, and returns its sandbox path. */
  async stage(data: Uint8Array): Promise<string> {
    const name = `.fathom-upload-${randomBytes(8).toString('hex')}`;
    const host = join(this.dir, name);
    const handle = await open(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      if (this.owner) await handle.chown(this.owner.uid, this.owner.gid);
      await handle.writeFile(data);
    } catch (error) {
      await handle.close();
      await unlink(host).catch(() => undefined);
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw this.full();
      throw error;
    }
    await handle.close();
    return `${WORKSPACE}/${name}`;
  }

  /** Removes a file `stage` made, if the sandbox has not moved it away. */
  async discard(staged: string): Promise<void> {
    await unlink(join(this.dir, staged.slice(WORKSPACE.length + 1))).catch(() => undefined);
  }

  /** A fresh name at the workspace root for the sandbox to put a file under, for `takeStaged`. */
  stagingName(): string {
    return `.fathom-export-${randomBytes(8).toString('hex')}`;
  }

  /** Reads and removes a file the sandbox staged under `name`: a regular file, at most `maxBytes`. */
  async takeStaged(name: string, path: string, maxBytes: number): Promise<Buffer> {
    const host = join(this.dir, name);
    try {
      const handle = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY).catch(() => {
        throw new FathomError('forbidden', `${path} changed while it was being read`, { hint: 'Try again once nothing in the sandbox is changing it.' });
      });
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) throw new FathomError('invalid_argument', `${path} is not a regular file`);
        if (stat.size > maxBytes) {
          throw new FathomError('too_large', `${path} is ${stat.size} bytes, over the ${maxBytes}-byte limit`, { hint: 'Split or compress it inside the sandbox first.' });
        }
        const data = Buffer.alloc(stat.size);
        const { bytesRead } = await handle.read(data, 0, stat.size, 0);
        return data.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    } finally {
      await unlink(host).catch(() => undefined);
    }
  }

  /** Bytes held by files under the workspace (links not followed): the quota where no file system enforces it. */
  async usage(limit = Number.POSITIVE_INFINITY): Promise<number> {
    let total = 0;
    const queue = [this.dir];
    while (queue.length && total <= limit) {
      const dir = queue.pop()!;
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const host = join(dir, entry.name);
        if (entry.isDirectory()) queue.push(host);
        else if (entry.isFile()) total += (await lstat(host).catch(() => ({ blocks: 0 }))).blocks * 512;
      }
    }
    return total;
  }

  full(): FathomError {
    return new FathomError('too_large', `The workspace is full: it holds at most ${this.quotaMb} MB`, {
      hint: `Delete files in ${WORKSPACE} you no longer need, then try again.`,
    });
  }
}
