import { mkdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { FathomError, loadSource, safeFileName } from '@fathom/core';
import type { ToolContext } from '@fathom/core';
import { sandboxPath } from './backends/paths.js';
import type { Sandbox } from './backends/types.js';
import type { SandboxRuntime } from './runtime.js';
import type { Session } from './sessions.js';

/** Moving files between the host, the web and a sandbox, for both profiles. */

export interface Written {
  path: string;
  size: number;
}

/** Whether `path` is an existing folder in the sandbox. */
export async function isFolder(sandbox: Sandbox, path: string): Promise<boolean> {
  try {
    const { entries } = await sandbox.listFiles(path, false);
    return !(entries.length === 1 && entries[0]!.path === sandboxPath(path) && entries[0]!.type !== 'directory');
  } catch {
    return false;
  }
}

/** `target` itself, or `name` inside it when it names a folder (existing, or written with a trailing slash). */
export async function targetPath(sandbox: Sandbox, target: string, name: string, folder?: boolean): Promise<string> {
  const asFolder = folder ?? (target.endsWith('/') || (await isFolder(sandbox, target)));
  return asFolder ? posix.join(sandboxPath(target), name) : sandboxPath(target);
}

function maxBytes(runtime: SandboxRuntime): number {
  return runtime.config.maxTransferMb * 1024 * 1024;
}

/** Reads a host file from the allowed roots (the client's MCP roots when it offers them). */
export async function readLocal(runtime: SandboxRuntime, localPath: string, context: ToolContext): Promise<{ bytes: Uint8Array; name: string }> {
  if (/^[a-z][a-z0-9+.-]*:/i.test(localPath) && !/^file:/i.test(localPath)) {
    throw new FathomError('invalid_argument', `${localPath} is not a local path`, { hint: 'Give a file path; download URLs with the download tool.' });
  }
  const roots = await context.roots();
  const loaded = await loadSource(localPath, { roots, maxBytes: maxBytes(runtime), fetcher: runtime.fetcher });
  return { bytes: loaded.bytes, name: loaded.name };
}

export async function uploadInto(runtime: SandboxRuntime, sandbox: Sandbox, localPath: string, target: string, context: ToolContext, folder?: boolean): Promise<Written> {
  const local = await readLocal(runtime, localPath, context);
  const path = await sandbox.writeFile(await targetPath(sandbox, target, local.name, folder), local.bytes);
  return { path, size: local.bytes.length };
}

/** Fetches a URL through the guarded client and the shared download cache. */
export async function fetchUrl(runtime: SandboxRuntime, url: string): Promise<{ bytes: Uint8Array; name: string; url: string; contentType?: string }> {
  if (!/^https?:\/\//i.test(url.trim())) {
    throw new FathomError('invalid_argument', `Only http and https URLs can be downloaded, not ${url}`, { hint: 'Give an http(s) URL.' });
  }
  const fetched = await runtime.fetcher.fetch(url);
  const name = fetched.name !== 'index' ? fetched.name : 'downloaded_file';
  return { bytes: fetched.bytes, name, url: fetched.finalUrl, ...(fetched.contentType ? { contentType: fetched.contentType } : {}) };
}

export async function downloadInto(
  runtime: SandboxRuntime,
  sandbox: Sandbox,
  url: string,
  target: string,
  folder?: boolean,
): Promise<Written & { url: string; contentType?: string }> {
  const fetched = await fetchUrl(runtime, url);
  const path = await sandbox.writeFile(await targetPath(sandbox, target, fetched.name, folder), fetched.bytes);
  return { path, size: fetched.bytes.length, url: fetched.url, ...(fetched.contentType ? { contentType: fetched.contentType } : {}) };
}

/** Longest file name (in UTF-8 bytes) a transfer gives a file; file systems allow 255. */
const MAX_NAME_BYTES = 200;

/** A name that stays one file inside the output folder or the sandbox folder it goes to. */
export function transferName(name: string): string {
  return safeFileName(name, { fallback: 'downloaded_file', maxBytes: MAX_NAME_BYTES });
}

/**
 * Copies a sandbox file into the host's output folder as `sandbox_<tag>_<name>`, where the tag
 * names the sandbox's exports without giving away its id. Each sandbox exports at most
 * `maxExports` files and `maxExportMb` in all.
 */
export async function exportFile(runtime: SandboxRuntime, session: Session, path: string, name?: string): Promise<Written> {
  const { config } = runtime;
  const asked = name?.trim();
  if (asked && Buffer.byteLength(asked) > MAX_NAME_BYTES) {
    throw new FathomError('invalid_argument', `The name is ${Buffer.byteLength(asked)} bytes long; a file name can be at most ${MAX_NAME_BYTES} bytes`, {
      hint: 'Give a shorter name, or leave it out to keep the file\'s own.',
    });
  }
  if (session.exported.files >= config.maxExports) {
    throw new FathomError('too_large', `This sandbox has already exported ${session.exported.files} files, the most one sandbox may`, {
      hint: 'Pack the files into one archive inside the sandbox (e.g. with zip or tar) and export that; the operator can raise --max-exports.',
    });
  }
  const room = config.maxExportMb * 1024 * 1024 - session.exported.bytes;
  const limit = Math.min(maxBytes(runtime), room);
  const data = await session.sandbox.readFile(path, Math.max(0, limit)).catch((error: unknown) => {
    if (error instanceof FathomError && error.code === 'too_large' && limit === room) {
      throw new FathomError('too_large', `${path} does not fit in what this sandbox may still export (${Math.max(0, room)} of ${config.maxExportMb} MB left)`, {
        hint: 'Compress it inside the sandbox first, or export only the part you need; the operator can raise --max-export-mb.',
      });
    }
    throw error;
  });
  const fileName = `sandbox_${session.exportTag}_${transferName(asked || posix.basename(sandboxPath(path)))}`;
  await mkdir(config.outputDir, { recursive: true });
  const local = join(config.outputDir, fileName);
  await writeFile(local, data);
  session.exported.files++;
  session.exported.bytes += data.length;
  return { path: local, size: data.length };
}
