import type { CapturedText } from './types.js';

/** The lines that set apart what background processes printed between two calls. */
export const BACKGROUND_START = '[printed by background processes since the previous call]\n';
export const BACKGROUND_END = '[end of background output]\n';

/**
 * One output stream of a kernel process. During a call it keeps the first `keep` bytes and
 * counts the rest. The call's end marker tells that everything the call printed has arrived; what
 * arrives after it, until the call's output is taken, still belongs to that call. What arrives
 * between calls (from background processes) opens the next call's output, set apart as such.
 */
/** The first bytes of a stream, up to a limit, and the count of all of them. */
class Head {
  kept: Buffer[] = [];
  keptBytes = 0;
  total = 0;

  add(data: Buffer, keep: number): void {
    if (!data.length) return;
    this.total += data.length;
    const room = keep - this.keptBytes;
    if (room <= 0) return;
    const part = data.length > room ? data.subarray(0, room) : data;
    this.kept.push(Buffer.from(part));
    this.keptBytes += part.length;
  }

  /** Adds what `other` kept and counted. */
  append(other: Head, keep: number): void {
    const dropped = other.total - other.keptBytes;
    for (const part of other.kept) this.add(part, keep);
    this.total += dropped;
  }

  /** The kept bytes as text; a character cut in half at the end is dropped when `cut`. */
  text(cut = this.total > this.keptBytes): string {
    return new TextDecoder().decode(Buffer.concat(this.kept), { stream: cut });
  }

  trimTo(keep: number): void {
    if (this.keptBytes <= keep) return;
    const all = Buffer.concat(this.kept).subarray(0, keep);
    this.kept = [all];
    this.keptBytes = all.length;
  }
}

export class StreamCapture {
  private call = new Head();
  private held = Buffer.alloc(0);
  private marker: Buffer | undefined;
  private seen: (() => void) | undefined;
  /** 'plain' until the first call: then output between calls is kept apart. */
  private state: 'plain' | 'capturing' | 'ended' | 'between' = 'plain';
  private between = new Head();
  private background: Head | undefined;

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
    if (this.between.total) {
      this.background = this.between;
      this.between = new Head();
    }
    this.call.trimTo(keep);
    this.marker = Buffer.from(marker);
    this.held = Buffer.alloc(0);
    this.state = 'capturing';
    return new Promise<void>((resolve) => (this.seen = resolve));
  }

  push(chunk: Buffer): void {
    if (this.state === 'between') return this.between.add(chunk, this.keep);
    const { marker } = this;
    if (this.state !== 'capturing' || !marker) return this.add(chunk);
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(marker);
    if (at >= 0) {
      this.add(data.subarray(0, at));
      this.add(data.subarray(at + marker.length));
      this.held = Buffer.alloc(0);
      this.marker = undefined;
      this.state = 'ended';
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
    if (this.held.length) this.add(this.held);
    this.held = Buffer.alloc(0);
    this.marker = undefined;
    this.seen = undefined;
    if (this.state !== 'plain') this.state = 'between';
    const bytes = Math.max(totalBytes ?? 0, this.call.total);
    let text = this.call.text(bytes > this.call.keptBytes);
    const background = this.background?.text();
    if (background) text = BACKGROUND_START + background + (background.endsWith('\n') ? '' : '\n') + BACKGROUND_END + text;
    const result = { text, bytes: bytes + (this.background?.total ?? 0) };
    this.background = undefined;
    this.call = new Head();
    return result;
  }

  /**
   * Ends a call that prints nothing of its own (a file operation): what arrived meanwhile came
   * from background processes, and is kept for the next call as such.
   */
  carry(): void {
    if (this.held.length) this.add(this.held);
    const carried = this.background ?? new Head();
    carried.append(this.call, this.keep);
    this.call = new Head();
    this.background = undefined;
    this.held = Buffer.alloc(0);
    this.marker = undefined;
    this.seen = undefined;
    this.between = carried;
    this.state = 'between';
  }

  private add(data: Buffer): void {
    this.call.add(data, this.keep);
  }
}
