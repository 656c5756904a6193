import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { trackChild } from '@fathom/core';

/**
 * Poppler's command-line tools (Debian's poppler-utils, which has `pdftotext` and `pdftohtml`),
 * run as bounded child processes: they read a PDF's text several times faster than pdf.js's
 * `getTextContent`. `FATHOM_PDFTOTEXT=off` turns them off (pdf.js alone reads PDFs then).
 */

export type PopplerTool = 'pdftohtml' | 'pdftotext';

/** Wall time allowed to start and finish, plus per page (poppler takes about 1 ms a page). */
const BASE_TIMEOUT_MS = 5_000;
const PAGE_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 60_000;
/** Output allowed: a base plus per page. */
const BASE_OUTPUT_BYTES = 8 * 1024 * 1024;
const PAGE_OUTPUT_BYTES = 1024 * 1024;
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;
const MAX_STDERR_CHARS = 4096;

interface Tools {
  pdftotext?: string;
  pdftohtml?: string;
  /** util-linux `prlimit`, to cap a child's CPU time even when this thread is gone. */
  prlimit?: string;
}

let tools: Tools | undefined;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function which(name: string): string | undefined {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(delimiter).filter((dir) => isAbsolute(dir))];
  return dirs.map((dir) => join(dir, name)).find(executable);
}

function locate(): Tools {
  if (/^(off|false|0|no|disabled?)$/i.test(process.env.FATHOM_PDFTOTEXT?.trim() ?? '')) return {};
  const found: Tools = {};
  for (const name of ['pdftohtml', 'pdftotext', 'prlimit'] as const) {
    const path = which(name);
    if (path) found[name] = path;
  }
  return found;
}

/** A poppler tool's path, looked up once per process (thread); undefined when missing or turned off. */
export function popplerPath(tool: PopplerTool): string | undefined {
  tools ??= locate();
  return tools[tool];
}

export type PopplerFailure = 'encrypted' | 'damaged' | 'timeout' | 'too-large' | 'failed';

export class PopplerError extends Error {
  override readonly name = 'PopplerError';
  constructor(
    readonly reason: PopplerFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface PopplerRun {
  tool: PopplerTool;
  /** Arguments after the page range (`-f`, `-l` are added), input and output included. */
  args: string[];
  /**
   * The child's stdin: bytes written to a pipe (`pdftotext - -` reads the PDF from there), or an
   * open file (pdftohtml, which needs to seek, reads it as `/dev/stdin`); else it is closed.
   */
  stdin?: Uint8Array | number;
  /** 1-based, inclusive; the range must lie inside the document. */
  first: number;
  last: number;
  /** What ends a page in the output: `</page>` for `pdftohtml -xml`, a form feed for pdftotext. */
  pageEnd: string;
  /** Called with each page's output, in page order, as soon as the page is complete. */
  onPage(page: number, text: string): void;
  /** Stops the child (the call then fails). */
  signal?: AbortSignal;
}

/**
 * Runs a poppler tool on pages `first`..`last`, handing each page's output to `onPage` as it
 * arrives. The child is killed after a time proportional to the page count, or when its output
 * outgrows a cap; a CPU-time limit (prlimit) ends it even if this thread is terminated first.
 * Its stdout and stderr are pipes read here: nothing reaches this process's own.
 */
export function runPoppler(run: PopplerRun): Promise<void> {
  const binary = popplerPath(run.tool);
  if (!binary) return Promise.reject(new PopplerError('failed', `${run.tool} is not available`));
  const pages = run.last - run.first + 1;
  const timeoutMs = Math.min(MAX_TIMEOUT_MS, BASE_TIMEOUT_MS + PAGE_TIMEOUT_MS * pages);
  const maxBytes = Math.min(MAX_OUTPUT_BYTES, BASE_OUTPUT_BYTES + PAGE_OUTPUT_BYTES * pages);
  const args = ['-f', String(run.first), '-l', String(run.last), ...run.args];
  // prlimit execs the tool in its own place, so killing the child kills the tool.
  const [command, argv] = tools?.prlimit ? [tools.prlimit, [`--cpu=${Math.ceil(timeoutMs / 1000) + 1}`, binary, ...args]] : [binary, args];
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, argv, { stdio: [typeof run.stdin === 'number' ? run.stdin : 'pipe', 'pipe', 'pipe'], windowsHide: true });
    trackChild(child);
    // stdout and stderr are pipes (stdio above); only stdin may be a file.
    const { stdout, stderr: errors } = child as typeof child & { stdout: Readable; stderr: Readable };
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let page = run.first;
    let received = 0;
    let stderr = '';
    let failure: PopplerError | undefined;
    let settled = false;
    const stop = (error: PopplerError) => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(new PopplerError('timeout', `${run.tool} took longer than ${timeoutMs} ms`)), timeoutMs);
    const abort = () => stop(new PopplerError('failed', `${run.tool} was stopped`));
    run.signal?.addEventListener('abort', abort, { once: true });
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', abort);
      if (failure) reject(failure);
      else resolve();
    };
    const take = (text: string) => {
      pending += text;
      let cut = pending.indexOf(run.pageEnd);
      while (cut !== -1 && !failure) {
        if (page > run.last) return stop(new PopplerError('failed', `${run.tool} gave more pages than asked for`));
        try {
          run.onPage(page++, pending.slice(0, cut));
        } catch (error) {
          return stop(new PopplerError('failed', error instanceof Error ? error.message : String(error)));
        }
        pending = pending.slice(cut + run.pageEnd.length);
        cut = pending.indexOf(run.pageEnd);
      }
    };
    stdout.on('data', (chunk: Buffer) => {
      if (failure) return;
      received += chunk.byteLength;
      if (received > maxBytes) stop(new PopplerError('too-large', `${run.tool} wrote more than ${maxBytes} bytes`));
      else take(decoder.write(chunk));
    });
    errors.setEncoding('utf8');
    errors.on('data', (text: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += text.slice(0, MAX_STDERR_CHARS - stderr.length);
    });
    // The child may exit before it has read all of its input (a damaged file).
    child.stdin?.on('error', () => undefined);
    child.on('error', (error) => {
      stop(new PopplerError('failed', `${run.tool} could not run: ${error.message}`));
      settle();
    });
    child.on('close', (code, signal) => {
      if (!failure && code === 0) {
        take(decoder.end());
        if (!failure && page !== run.last + 1) failure = new PopplerError('failed', `${run.tool} gave ${page - run.first} of ${pages} pages`);
      }
      if (!failure && code !== 0) failure = exitFailure(run.tool, code, signal, stderr);
      settle();
    });
    if (run.signal?.aborted) abort();
    child.stdin?.end(typeof run.stdin === 'number' ? undefined : run.stdin);
  });
}

function exitFailure(tool: PopplerTool, code: number | null, signal: NodeJS.Signals | null, stderr: string): PopplerError {
  const said = stderr.trim().split('\n').slice(-3).join('; ');
  if (/incorrect password/i.test(stderr)) return new PopplerError('encrypted', `${tool}: the PDF needs a password`);
  if (signal === 'SIGKILL' || signal === 'SIGXCPU') return new PopplerError('timeout', `${tool} ran out of CPU time (${signal})`);
  if (code === 1) return new PopplerError('damaged', `${tool} could not read the PDF${said ? `: ${said}` : ''}`);
  return new PopplerError('failed', `${tool} exited with ${signal ?? `code ${code}`}${said ? `: ${said}` : ''}`);
}
