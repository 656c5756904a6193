import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FathomError } from './errors.js';
import type { DocumentFetcher } from './fetcher.js';
import { resolveWithinRoots } from './paths.js';

export interface LoadedSource {
  bytes: Uint8Array;
  name: string;
  mimeType?: string;
  url?: string;
  /** How to name it to the agent: the path, the final URL, or "data: URI". */
  display: string;
}

export interface SourceContext {
  roots: readonly string[];
  maxBytes: number;
  /** The shared document fetcher, for http(s) URLs; it applies its own size limit. */
  fetcher: DocumentFetcher;
  /** What to suggest when a path does not exist, e.g. the server's listing tool. */
  missingHint?: string;
}

function parseDataUri(uri: string): LoadedSource {
  const comma = uri.indexOf(',');
  if (comma === -1) throw new FathomError('invalid_argument', 'Malformed data: URI (no comma)', { hint: 'Write data:<type>;base64,<data>.' });
  const meta = uri.slice(5, comma);
  const payload = uri.slice(comma + 1);
  const base64 = /;base64$/i.test(meta);
  const mimeType = (base64 ? meta.slice(0, -7) : meta) || 'text/plain;charset=US-ASCII';
  let bytes: Buffer;
  try {
    bytes = base64 ? Buffer.from(payload, 'base64') : Buffer.from(decodeURIComponent(payload), 'utf8');
  } catch {
    throw new FathomError('invalid_argument', 'Malformed data: URI (bad percent-encoding)');
  }
  return { bytes, name: 'data', mimeType, display: 'data: URI' };
}

async function loadUrl(url: string, context: SourceContext): Promise<LoadedSource> {
  const fetched = await context.fetcher.fetch(url);
  return {
    bytes: fetched.bytes,
    name: fetched.name,
    ...(fetched.contentType ? { mimeType: fetched.contentType } : {}),
    url: fetched.finalUrl,
    display: fetched.finalUrl,
  };
}

/** A path under the roots, a file: URI, an http(s) URL (fetched through the guarded client) or a data: URI. */
export async function loadSource(source: string, context: SourceContext): Promise<LoadedSource> {
  const trimmed = source.trim();
  if (/^data:/i.test(trimmed)) return parseDataUri(trimmed);
  if (/^https?:\/\//i.test(trimmed)) return loadUrl(trimmed, context);
  let path = trimmed;
  if (/^file:/i.test(trimmed)) {
    try {
      path = fileURLToPath(trimmed);
    } catch {
      throw new FathomError('invalid_argument', `Malformed file: URI ${trimmed}`, { hint: 'Write file:///absolute/path.' });
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new FathomError('invalid_argument', `Unsupported source scheme in ${trimmed}`, { hint: 'Use a path, a file:, http(s): or data: URI.' });
  }
  const real = await resolveWithinRoots(path, context.roots);
  const info = await stat(real).catch(() => undefined);
  if (!info) throw new FathomError('not_found', `No file at ${path}`, { hint: context.missingHint ?? 'Check the path; relative paths start at the first root.' });
  if (!info.isFile()) throw new FathomError('invalid_argument', `${path} is not a file`, { hint: 'Give the path of a file in it.' });
  if (info.size > context.maxBytes) {
    throw new FathomError('too_large', `${path} is ${info.size} bytes, over the ${context.maxBytes}-byte limit`, {
      hint: 'The operator can raise the server\'s size limit.',
    });
  }
  return { bytes: await readFile(real), name: basename(real), display: path };
}
