import { posix } from 'node:path';
import { FathomError } from '@fathom/core';
import { WORKSPACE } from './types.js';

/** A path as the sandbox sees it: relative paths are under /home/user; `..` cannot climb out of /. */
export function sandboxPath(path: string): string {
  if (path.includes('\0')) throw new FathomError('invalid_argument', 'A path cannot contain a NUL byte');
  const trimmed = path.trim();
  if (!trimmed) throw new FathomError('invalid_argument', 'The path is empty', { hint: `Give a path such as ${WORKSPACE}/data.csv.` });
  return posix.normalize(posix.isAbsolute(trimmed) ? trimmed : posix.join(WORKSPACE, trimmed));
}

/** The part of a sandbox path under /home/user ('' for the folder itself), or undefined outside it. */
export function underWorkspace(path: string): string | undefined {
  if (path === WORKSPACE) return '';
  return path.startsWith(WORKSPACE + '/') ? path.slice(WORKSPACE.length + 1) : undefined;
}
