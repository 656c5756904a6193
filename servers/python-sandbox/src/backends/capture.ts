import type { CapturedText } from './types.js';

/**
 * One output stream of a kernel process. During a call it keeps the first `keep` bytes and
 * counts the rest, until the call's end marker arrives; what comes after the marker (or between
 * calls, from background processes) opens the next call's output.
 */
export class StreamCapture {
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private total = 0;
  private held = Buffer.alloc(0);
  private marker: Buffer | undefined;
  private seen: (() => void) | undefined;

  constructor(private keep = 1 << 20) {}

  /** The first `keepBytes` of `chunks` and their byte total, in one go. */
  static of(chunks: readonly (string | Uint8Array)[], keepBytes: number): CapturedText {
    const capture = new StreamCapture(keepBytes);
    for (const chunk of chunks) capture.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
    return capture.take();
  }

  /** Starts a call; the promise settles when `marker` has been read. */
  begin(marker: string, keep: number): Promise<void> {
    this.keep = keep;
    this.trimTo(keep);
    this.marker = Buffer.from(marker);
    const pending = new Promise<void>((resolve) => (this.seen = resolve));
    const held = this.held;
    this.held = Buffer.alloc(0);
    if (held.length) this.push(held);
    return pending;
  }

  push(chunk: Buffer): void {
    const { marker } = this;
    if (!marker) {
      this.add(chunk);
      return;
    }
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(marker);
    if (at >= 0) {
      this.add(data.subarray(0, at));
      this.held = Buffer.from(data.subarray(at + marker.length));
      this.marker = undefined;
      const seen = this.seen;
      this.seen = undefined;
      seen?.();
      return;
    }
    const safe = Math.max(0, data.length - (marker.length - 1));
    this.add(data.subarray(0, safe));
    this.held = Buffer.from(data.subarray(safe));
  }

  /**
   * What the call printed; resets for the next one. `totalBytes` overrides the count when the
   * writer dropped bytes before they got here. A character cut in half by the limit is dropped.
   */
  take(totalBytes?: number): CapturedText {
    if (this.marker) {
      this.add(this.held);
      this.held = Buffer.alloc(0);
      this.marker = undefined;
      this.seen = undefined;
    }
    const bytes = Math.max(totalBytes ?? 0, this.total);
    const text = new TextDecoder().decode(Buffer.concat(this.kept), { stream: bytes > this.keptBytes });
    const result = { text, bytes };
    this.kept = [];
    this.keptBytes = 0;
    this.total = 0;
    return result;
  }

  private add(data: Buffer): void {
    if (!data.length) return;
    this.total += data.length;
    const room = this.keep - this.keptBytes;
    if (room <= 0) return;
    const part = data.length > room ? data.subarray(0, room) : data;
    this.kept.push(Buffer.from(part));
    this.keptBytes += part.length;
  }

  private trimTo(keep: number): void {
    if (this.keptBytes <= keep) return;
    const all = Buffer.concat(this.kept).subarray(0, keep);
    this.kept = [all];
    this.keptBytes = all.length;
  }
}
