import { constants, lstatSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { FathomError, errorMessage, isFathomError, safeFileName } from '@fathom/core';
import type { Download } from 'playwright-core';
import type { Config } from './config.js';
import type { Owner } from './launch.js';

const POLL_MS = 200;
const CHUNK = 1024 * 1024;
const MB = 1024 * 1024;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export interface SavedDownload {
  name: string;
  path: string;
  bytes: number;
  url: string;
}

/** A new file in `dir` named `name`, or `name (1)`, `name (2)`…: never one that exists. */
async function createUnique(dir: string, name: string): Promise<{ path: string; handle: FileHandle }> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; ; n++) {
    const path = join(dir, n === 0 ? name : `${stem} (${n})${ext}`);
    try {
      return { path, handle: await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * Copies a file the browser wrote into `dir` (the server's output folder). The browser's folder
 * belongs to the browser's uid, so what lies there is not trusted: only a plain file that the
 * browser owns, with no other name, is read, and never through a link.
 */
export async function copyOut(source: string, dir: string, name: string, owner: Owner | undefined, limitBytes: number): Promise<{ path: string; bytes: number }> {
  const refuse = (why: string) => new FathomError('forbidden', `The browser left ${why} instead of the downloaded file; it was not copied.`);
  let input: FileHandle;
  try {
    input = await open(source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw refuse('a link');
    throw error;
  }
  try {
    const stat = await input.stat();
    if (!stat.isFile()) throw refuse('something other than a file');
    if (stat.uid !== (owner?.uid ?? process.getuid?.() ?? stat.uid)) throw refuse('a file that belongs to someone else');
    if (stat.nlink !== 1) throw refuse('a file with other names');
    if (stat.size > limitBytes) throw new FathomError('too_large', `The file is ${stat.size} bytes, over the ${limitBytes}-byte limit.`);
    await mkdir(dir, { recursive: true });
    const { path, handle: output } = await createUnique(dir, name);
    let bytes = 0;
    try {
      const buffer = Buffer.alloc(CHUNK);
      for (;;) {
        const { bytesRead } = await input.read(buffer, 0, CHUNK, bytes);
        if (bytesRead === 0) break;
        bytes += bytesRead;
        if (bytes > limitBytes) throw new FathomError('too_large', `The file grew past the ${limitBytes}-byte limit while it was copied.`);
        await output.write(buffer, 0, bytesRead);
      }
    } catch (error) {
      await output.close();
      await rm(path, { force: true });
      throw error;
    }
    await output.close();
    return { path, bytes };
  } finally {
    await input.close();
  }
}

interface Watched {
  limitBytes: number;
  oversize: () => void;
}

/**
 * Watches the browser's download folder, where Chromium writes `<guid>.crdownload` while a
 * download runs, so an oversized download is cancelled as it grows rather than after it ends.
 */
export class DownloadWatcher {
  private readonly claimed = new Map<string, Download>();
  private readonly active = new Map<Download, Watched>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly dir: string) {}

  /** Resolves when `download` grows past `limitBytes`; `done` stops watching it. */
  watch(download: Download, limitBytes: number): { oversized: Promise<void>; done: () => void } {
    const oversized = new Promise<void>((resolve) => this.active.set(download, { limitBytes, oversize: resolve }));
    this.timer ??= setInterval(() => this.poll(), POLL_MS).unref();
    return { oversized, done: () => this.done(download) };
  }

  private done(download: Download): void {
    this.active.delete(download);
    for (const [file, owner] of this.claimed) if (owner === download) this.claimed.delete(file);
    if (this.active.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private poll(): void {
    let files: string[];
    try {
      files = readdirSync(this.dir).filter((file) => file.endsWith('.crdownload'));
    } catch {
      return;
    }
    const owners = new Set(this.claimed.values());
    const unclaimed = [...this.active.keys()].filter((download) => !owners.has(download));
    for (const file of files) {
      if (!this.claimed.has(file)) {
        const owner = unclaimed.shift();
        if (!owner) continue;
        this.claimed.set(file, owner);
      }
      const owner = this.claimed.get(file);
      const watched = owner && this.active.get(owner);
      if (!owner || !watched) continue;
      let size = 0;
      try {
        size = lstatSync(join(this.dir, file)).size;
      } catch {
        continue;
      }
      if (size > watched.limitBytes) {
        this.done(owner);
        rmSync(join(this.dir, file), { force: true });
        watched.oversize();
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

interface SessionDownloadsOptions {
  config: Config;
  watcher: DownloadWatcher;
  /** Who owns the files the browser writes (undefined: the server's own uid). */
  owner: Owner | undefined;
  /** Set when downloads are off: why. */
  off?: string | undefined;
  /** The session's folder under the output folder's browser/. */
  folder: string;
  /** Says what happened to a download, as an event of the session. */
  record: (event: string) => void;
}

/** One session's downloads: each copied out of the browser's folder within the session's count and byte limits. */
export class SessionDownloads {
  readonly files: SavedDownload[] = [];
  private started = 0;
  private bytes = 0;
  private refused = 0;
  /** Downloads are copied out one at a time, so the session's byte budget holds. */
  private copying: Promise<void> = Promise.resolve();

  constructor(private readonly options: SessionDownloadsOptions) {}

  /** Whether the session may start no more downloads. */
  get limitReached(): boolean {
    return this.started >= this.options.config.maxDownloads;
  }

  /** The event for the downloads cancelled at the limit since the last call, if any. */
  takeRefused(): string | undefined {
    if (this.refused === 0) return undefined;
    const event =
      `Cancelled ${plural(this.refused, 'download')} the page started: this session may start at most ${this.options.config.maxDownloads} ` +
      '(FATHOM_MAX_DOWNLOADS). browser_downloads lists the files kept.';
    this.refused = 0;
    return event;
  }

  /** Saves `download` into the output folder, or cancels it when it would pass a limit; says which as an event. */
  /** Why downloads are off, when they are. */
  get off(): string | undefined {
    return this.options.off;
  }

  async save(download: Download): Promise<void> {
    const { config, watcher, owner, folder, record } = this.options;
    const name = safeFileName(download.suggestedFilename(), { fallback: 'download' });
    if (this.off) {
      record(`Did not save the download of ${name} (${download.url()}): ${this.off}.`);
      await download.cancel().catch(() => undefined);
      return;
    }
    if (this.limitReached) {
      this.refused++;
      await download.cancel().catch(() => undefined);
      await download.delete().catch(() => undefined);
      return;
    }
    this.started++;
    const fileLimit = config.maxDownloadMb * MB;
    const sessionLeft = () => Math.max(0, config.maxDownloadTotalMb * MB - this.bytes);
    const tooLarge = (limit: number) =>
      limit < fileLimit
        ? `this session's downloads would pass ${config.maxDownloadTotalMb} MB (FATHOM_MAX_DOWNLOAD_TOTAL_MB)`
        : `it is larger than ${config.maxDownloadMb} MB`;
    const startLimit = Math.min(fileLimit, sessionLeft());
    const watch = watcher.watch(download, startLimit);
    try {
      const finished = download.path();
      const oversized = await Promise.race([finished.then(() => false), watch.oversized.then(() => true)]);
      if (oversized) {
        await download.cancel().catch(() => undefined);
        await download.delete().catch(() => undefined);
        record(`Cancelled the download of ${name}: ${tooLarge(startLimit)}.`);
        return;
      }
      const source = await finished;
      const copy = this.copying.then(async () => {
        const limit = Math.min(fileLimit, sessionLeft());
        const dir = join(config.outputDir, 'browser', safeFileName(folder, { fallback: 'download' }));
        try {
          const saved = await copyOut(source, dir, name, owner, limit);
          this.bytes += saved.bytes;
          this.files.push({ name: basename(saved.path), path: saved.path, bytes: saved.bytes, url: download.url() });
          record(`Downloaded ${basename(saved.path)} (${saved.bytes} bytes) to ${saved.path}.`);
        } catch (error) {
          if (!isFathomError(error, 'too_large')) throw error;
          record(`Discarded the download of ${name}: ${tooLarge(limit)}.`);
        }
      });
      this.copying = copy.catch(() => undefined);
      await copy;
      await download.delete().catch(() => undefined);
    } catch (error) {
      const failure = await download.failure().catch(() => null);
      record(`The download of ${name} failed: ${failure ?? errorMessage(error)}`);
      await download.delete().catch(() => undefined);
    } finally {
      watch.done();
    }
  }
}
