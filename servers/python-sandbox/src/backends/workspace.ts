import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { FathomError } from '@fathom/core';
import { underWorkspace } from './paths.js';
import type { FileEntry } from './types.js';
import { WORKSPACE } from './types.js';

const MAX_LISTED = 5000;

/**
 * File access from the host to a workspace folder that sandboxed code can change at any moment:
 * nothing follows a link the sandbox made, and every open is checked after the fact.
 */
export class HostWorkspace {
  constructor(readonly dir: string) {}

  hostPath(path: string): string {
    const rest = underWorkspace(path);
    if (rest === undefined) {
      throw new FathomError('invalid_argument', `${path} is outside ${WORKSPACE}`, {
        hint: `File tools reach ${WORKSPACE} only; copy other files there first (e.g. with a shell command).`,
      });
    }
    return rest ? join(this.dir, rest) : this.dir;
  }

  private async checkInside(opened: string, path: string): Promise<void> {
    const root = await realpath(this.dir);
    const rel = relative(root, opened);
    if (rel.startsWith('..' + sep) || rel === '..' || rel.startsWith(sep)) {
      throw new FathomError('forbidden', `${path} leads outside ${WORKSPACE} (a symbolic link)`, {
        hint: 'Read the file the link points to from inside the sandbox, or copy it into the workspace.',
      });
    }
  }

  async read(path: string, maxBytes: number): Promise<Uint8Array> {
    const host = this.hostPath(path);
    const handle = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
      throw fileError(error, path);
    });
    try {
      await this.checkInside(await readlink(`/proc/self/fd/${handle.fd}`), path);
      const stat = await handle.stat();
      if (stat.isDirectory()) throw new FathomError('invalid_argument', `${path} is a folder`, { hint: 'List it instead, or give a file path.' });
      if (!stat.isFile()) throw new FathomError('invalid_argument', `${path} is not a regular file`);
      if (stat.size > maxBytes) {
        throw new FathomError('too_large', `${path} is ${stat.size} bytes, over the ${maxBytes}-byte limit`, {
          hint: 'Split or compress it inside the sandbox first.',
        });
      }
      const data = await handle.readFile();
      if (data.length > maxBytes) throw new FathomError('too_large', `${path} grew past the ${maxBytes}-byte limit while being read`);
      return data;
    } finally {
      await handle.close();
    }
  }

  /** Writes bytes to a fresh file at the workspace root (which the sandbox cannot replace) and returns its sandbox path. */
  async stage(data: Uint8Array): Promise<string> {
    const name = `.fathom-upload-${randomBytes(8).toString('hex')}`;
    const handle = await open(join(this.dir, name), 'wx', 0o644);
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    return `${WORKSPACE}/${name}`;
  }

  async list(path: string, recursive: boolean): Promise<FileEntry[]> {
    const start = this.hostPath(path);
    const stat = await lstat(start).catch((error: NodeJS.ErrnoException) => {
      throw fileError(error, path);
    });
    if (!stat.isDirectory()) return [entryOf(path, stat)];
    await this.checkInside(await realpath(start), path);
    const entries: FileEntry[] = [];
    const queue = [start];
    while (queue.length && entries.length < MAX_LISTED) {
      const dir = queue.shift()!;
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort()) {
        const host = join(dir, name);
        const info = await lstat(host).catch(() => undefined);
        if (!info) continue;
        const inside = `${WORKSPACE}/${relative(this.dir, host).split(sep).join('/')}`;
        entries.push(entryOf(inside, info));
        if (recursive && info.isDirectory()) queue.push(host);
        if (entries.length >= MAX_LISTED) break;
      }
    }
    return entries;
  }

  /** Bytes held by files under the workspace (links not followed). */
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
}

function entryOf(path: string, stat: Awaited<ReturnType<typeof lstat>>): FileEntry {
  const type = stat.isFile() ? 'file' : stat.isDirectory() ? 'directory' : stat.isSymbolicLink() ? 'symlink' : 'other';
  return { path, type, size: Number(stat.size), modified: new Date(Number(stat.mtimeMs)).toISOString() };
}

export function fileError(error: NodeJS.ErrnoException, path: string): FathomError {
  switch (error.code) {
    case 'ENOENT':
      return new FathomError('not_found', `${path} does not exist`, { hint: 'List the folder to see what is there.' });
    case 'ELOOP':
      return new FathomError('forbidden', `${path} is a symbolic link`, { hint: 'Give the path of the file itself.' });
    case 'EISDIR':
      return new FathomError('invalid_argument', `${path} is a folder`);
    case 'ENOTDIR':
      return new FathomError('not_found', `${path} does not exist (a part of it is a file, not a folder)`);
    default:
      return new FathomError('internal', `${path}: ${error.message}`);
  }
}
