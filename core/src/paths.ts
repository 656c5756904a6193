import { readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { FathomError } from './errors.js';

function inside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/** The real path of `path`, or of its nearest existing ancestor joined with the rest. */
async function realpathOfNearest(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    // A dangling link: creating the path would create its target, so its target is what counts.
    const target = await readlink(path).catch(() => undefined);
    if (target !== undefined) return realpathOfNearest(resolve(dirname(path), target));
    const parent = dirname(path);
    if (parent === path) return path;
    return resolve(await realpathOfNearest(parent), relative(parent, path));
  }
}

/**
 * Resolves `path` (relative paths against the first root) and checks, after following every
 * symbolic link, that it stays inside one of `roots`. Works for files that do not exist yet.
 */
export async function resolveWithinRoots(path: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0) {
    throw new FathomError('forbidden', 'No folders are open to this server', {
      hint: "The operator opens folders with --roots (FATHOM_ROOTS); a client's MCP roots can only narrow them to folders inside those.",
    });
  }
  if (path.includes('\0')) throw new FathomError('invalid_argument', 'A path cannot contain a NUL byte');
  const absolute = resolve(roots[0]!, path);
  const real = await realpathOfNearest(absolute);
  for (const root of roots) {
    const realRoot = await realpathOfNearest(resolve(root));
    if (inside(realRoot, real)) return real;
  }
  throw new FathomError('forbidden', `${path} is outside the folders this server may read`, {
    hint: `Use a path under: ${roots.join(', ')}.`,
  });
}

/**
 * The folders a call may read: the operator's `configured` roots, narrowed to the client's
 * `offered` MCP roots (undefined when the client offers none). A client root inside a configured
 * root narrows to it, one that contains a configured root yields that root, one outside them all
 * yields nothing. Both sides are compared after following symbolic links.
 */
export async function narrowRoots(configured: readonly string[], offered: readonly string[] | undefined): Promise<string[]> {
  if (offered === undefined) return [...configured];
  const allowed = await Promise.all(configured.map((root) => realpathOfNearest(resolve(root))));
  const effective: string[] = [];
  for (const root of offered) {
    const real = await realpathOfNearest(resolve(root)).catch(() => undefined);
    if (real === undefined) continue;
    for (const limit of allowed) {
      const narrowed = inside(limit, real) ? real : inside(real, limit) ? limit : undefined;
      if (narrowed !== undefined && !effective.includes(narrowed)) effective.push(narrowed);
    }
  }
  return effective;
}

export interface SafeFileNameOptions {
  /** The name when nothing usable is left (default `file`). */
  fallback?: string;
  /** Longest name in UTF-8 bytes, its extension kept (default 200; file systems allow 255). */
  maxBytes?: number;
}

/** Longest extension kept whole when a name is shortened. */
const MAX_KEPT_EXTENSION_BYTES = 20;

/**
 * A name that stays one file inside a folder such as the shared output folder, on any disk: the
 * last part of a path (either separator), without control characters, with `_` for each
 * character Windows refuses (`<>:"|?*`), without leading dots or spaces, shortened to `maxBytes`
 * with its extension kept.
 */
export function safeFileName(name: string, options: SafeFileNameOptions = {}): string {
  const maxBytes = options.maxBytes ?? 200;
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/\p{Cc}/gu, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .trim();
  return fitBytes(cleaned, maxBytes) || (options.fallback ?? 'file');
}

function fitBytes(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? name.slice(dot) : '';
  const keep = Buffer.byteLength(extension) <= Math.min(MAX_KEPT_EXTENSION_BYTES, maxBytes) ? extension : '';
  let room = maxBytes - Buffer.byteLength(keep);
  let stem = '';
  for (const char of name.slice(0, name.length - keep.length)) {
    room -= Buffer.byteLength(char);
    if (room < 0) break;
    stem += char;
  }
  return stem.trimEnd() + keep;
}
