/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface HostState {
  active: number;
  waiting: Array<() => void>;
  nextStart: number;
}

const SWEEP_AT = 256;

/**
 * Per-host admission: at most `concurrency` requests in flight to one host, and request starts
 * at least `minIntervalMs` apart. Excess callers wait in FIFO order; nobody is refused.
 */
export class HostLimiter {
  private readonly hosts = new Map<string, HostState>();

  constructor(
    private readonly concurrency: number,
    private readonly minIntervalMs: number,
  ) {}

  /** Waits for a slot and returns the function that gives it back (safe to call twice). */
  async acquire(host: string, signal?: AbortSignal): Promise<() => void> {
    const state = this.stateFor(host);
    if (state.active < this.concurrency) state.active++;
    else await this.queue(state, signal);

    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = state.waiting.shift();
      if (next) next();
      else state.active--;
    };
    try {
      const now = Date.now();
      const start = Math.max(now, state.nextStart);
      state.nextStart = start + this.minIntervalMs;
      if (start > now) await sleep(start - now, signal);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /** Waits until a finishing request hands its slot over (`active` stays counted). */
  private queue(state: HostState, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        const index = state.waiting.indexOf(handOver);
        if (index >= 0) state.waiting.splice(index, 1);
        reject(signal?.reason);
      };
      const handOver = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      state.waiting.push(handOver);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private stateFor(host: string): HostState {
    let state = this.hosts.get(host);
    if (state) return state;
    if (this.hosts.size >= SWEEP_AT) this.sweep();
    state = { active: 0, waiting: [], nextStart: 0 };
    this.hosts.set(host, state);
    return state;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [host, state] of this.hosts) {
      if (state.active === 0 && state.nextStart <= now) this.hosts.delete(host);
    }
  }
}
