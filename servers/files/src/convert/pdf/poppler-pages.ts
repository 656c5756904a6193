import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPoppler } from '../poppler.js';
import type { PdfPageText } from './types.js';
import { XML_ZOOM, xmlPage } from './xml.js';

/** Fewest pages worth a poppler process of their own (each one starts and parses the file again). */
const PAGES_PER_PROCESS = 6;
/** From this many times PAGES_PER_PROCESS pages per process, the ranges come in two sizes. */
const UNEQUAL_FROM = 4;
/** Shares of the pages that the larger ranges (read first) and the smaller ones (read last) take together. */
const LARGE_SHARE = 0.7;
const SMALL_SHARE = 0.3;

/**
 * Pages `first`..`last` from `pdftohtml -xml`: each line of text with its box and font size, the
 * same runs pdf.js gives, so the layout steps stay the same; it runs as fast as `pdftotext`
 * (`-layout` keeps no font sizes and counts columns in characters; `-bbox-layout` and `-tsv`
 * cost about 1.7 times as much). The range is shared among a few processes. A page left
 * undefined holds text poppler cannot place (set at an angle): pdf.js reads it.
 */
export async function popplerPages(bytes: Uint8Array, first: number, last: number, processes: number | undefined, signal: AbortSignal): Promise<(PdfPageText | undefined)[]> {
  const most = processes === undefined ? availableParallelism() : Number.isFinite(processes) ? Math.max(1, Math.floor(processes)) : 1;
  const pages: (PdfPageText | undefined)[] = [];
  // pdftohtml seeks in its input, so it reads a file, not a pipe. On Linux the file is deleted as
  // soon as it is open, and each process reads it as its stdin (/dev/stdin opens it anew, with an
  // offset of its own): nothing stays on disk even if this thread is stopped midway.
  const dir = mkdtempSync(join(tmpdir(), 'fathom-pdf-'));
  const file = join(dir, 'input.pdf');
  let fd: number | undefined;
  try {
    writeFileSync(file, bytes, { mode: 0o600 });
    if (process.platform === 'linux') {
      fd = openSync(file, 'r');
      rmSync(dir, { recursive: true, force: true });
    }
    await inParallel(pageRanges(first, last, most), most, signal, (range, stop) => {
      const fonts = new Map<number, number>();
      return runPoppler({
        tool: 'pdftohtml',
        args: ['-xml', '-i', '-hidden', '-nodrm', '-nomerge', '-stdout', '-zoom', String(XML_ZOOM), fd === undefined ? file : '/dev/stdin'],
        ...(fd === undefined ? {} : { stdin: fd }),
        pageEnd: '</page>',
        first: range[0],
        last: range[1],
        onPage: (page, xml) => {
          pages[page - first] = xmlPage(page, xml, fonts);
        },
        signal: stop,
      });
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return pages;
}

/**
 * Pages `first`..`last` in ranges for `processes`: equal ones; with many pages, larger ones first
 * and smaller ones last, so that a process that drew slow pages (a long table of contents, dense
 * figures) is not left working alone at the end. A range has at least a few pages: each process
 * starts up and parses the file again.
 */
function pageRanges(first: number, last: number, processes: number): [number, number][] {
  const count = last - first + 1;
  const parts = Math.max(1, Math.min(processes, Math.floor(count / PAGES_PER_PROCESS)));
  const fractions = count >= UNEQUAL_FROM * parts * PAGES_PER_PROCESS ? [...Array<number>(parts).fill(LARGE_SHARE / parts), ...Array<number>(parts).fill(SMALL_SHARE / parts)] : Array<number>(parts).fill(1 / parts);
  const ranges: [number, number][] = [];
  let from = first;
  let share = 0;
  for (const [k, fraction] of fractions.entries()) {
    share += fraction;
    const to = k === fractions.length - 1 ? last : Math.max(from, first + Math.round(share * count) - 1);
    ranges.push([from, to]);
    from = to + 1;
  }
  return ranges;
}

/**
 * Runs `read` on each range, at most `processes` at a time, in order. One failure (or `signal`)
 * stops the others; when this settles, every read has ended.
 */
async function inParallel(
  ranges: [number, number][],
  processes: number,
  signal: AbortSignal,
  read: (range: [number, number], stop: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const quit = () => stop.abort();
  signal.addEventListener('abort', quit, { once: true });
  const queue = [...ranges];
  const work = async () => {
    for (let range = queue.shift(); range && !stop.signal.aborted; range = queue.shift()) await read(range, stop.signal);
  };
  const outcomes = await Promise.allSettled(
    Array.from({ length: Math.min(processes, ranges.length) }, () =>
      work().catch((error: unknown) => {
        stop.abort();
        throw error;
      }),
    ),
  );
  signal.removeEventListener('abort', quit);
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}
