import { FathomError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import type { Sandbox, SandboxBackend } from './backends/types.js';

export interface SessionsOptions {
  warmPool: number;
  maxLive: number;
  /** Idle lifetime of a sandbox unless its creator asks for another. */
  defaultTtlMs: number;
  maxTtlMs: number;
  logger: Logger;
}

export interface Session {
  readonly id: string;
  readonly sandbox: Sandbox;
  readonly createdAt: number;
  ttlMs: number;
  lastUsed: number;
  calls: number;
  /** The tail of this session's call queue: calls on one sandbox run one at a time. */
  queue: Promise<unknown>;
  busy: number;
}

const SWEEP_MS = 2000;

/**
 * The live sandboxes of one server: a warm pool so `create` is instant, a cap, idle expiry, and
 * one call at a time per sandbox.
 */
export class Sessions {
  private readonly live = new Map<string, Session>();
  private readonly pool: Promise<Sandbox | undefined>[] = [];
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private poolFailures = 0;

  constructor(
    readonly backend: SandboxBackend,
    private readonly options: SessionsOptions,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
    this.refill();
  }

  get size(): number {
    return this.live.size;
  }

  /** Clamps a requested lifetime in seconds to what this server allows. */
  ttlFor(seconds: number | undefined): number {
    return Math.min(seconds === undefined ? this.options.defaultTtlMs : seconds * 1000, this.options.maxTtlMs);
  }

  async create(ttlMs = this.options.defaultTtlMs): Promise<Session> {
    if (this.closed) throw new FathomError('unavailable', 'The sandbox server is shutting down');
    if (this.live.size >= this.options.maxLive) {
      throw new FathomError('rate_limited', `All ${this.options.maxLive} sandboxes this server allows are in use`, {
        hint: 'Close a sandbox you no longer need (or let idle ones expire), then try again; the operator can raise FATHOM_MAX_LIVE_SESSIONS.',
      });
    }
    const sandbox = (await this.fromPool()) ?? (await this.backend.create());
    // Starting a replacement forks a process: do it after this answer has gone out.
    setTimeout(() => this.refill(), 10);
    if (this.closed) {
      await sandbox.close();
      throw new FathomError('unavailable', 'The sandbox server is shutting down');
    }
    const now = Date.now();
    const session: Session = { id: sandbox.id, sandbox, createdAt: now, ttlMs, lastUsed: now, calls: 0, queue: Promise.resolve(), busy: 0 };
    this.live.set(session.id, session);
    return session;
  }

  private async fromPool(): Promise<Sandbox | undefined> {
    while (this.pool.length) {
      const ready = await this.pool.shift()!;
      if (ready) return ready;
    }
    return undefined;
  }

  private refill(): void {
    if (this.closed || this.poolFailures >= 3) return;
    while (this.pool.length < this.options.warmPool) {
      this.pool.push(
        this.backend.create().then(
          (sandbox) => {
            this.poolFailures = 0;
            return sandbox;
          },
          (error: unknown) => {
            this.poolFailures++;
            this.options.logger.warn('warm sandbox failed to start', { error: String(error) });
            return undefined;
          },
        ),
      );
    }
  }

  get(id: string): Session | undefined {
    return this.live.get(id);
  }

  /** Runs `work` on the session's sandbox after the calls before it, keeping the sandbox alive meanwhile. */
  async use<T>(id: string, work: (sandbox: Sandbox, session: Session) => Promise<T>): Promise<T> {
    const session = this.live.get(id);
    if (!session) throw unknownSession(id);
    session.busy++;
    const turn = session.queue.then(() => {
      if (!this.live.has(id)) throw unknownSession(id);
      session.lastUsed = Date.now();
      session.calls++;
      return work(session.sandbox, session);
    });
    session.queue = turn.catch(() => undefined);
    try {
      return await turn;
    } finally {
      session.busy--;
      session.lastUsed = Date.now();
    }
  }

  async closeSession(id: string): Promise<boolean> {
    const session = this.live.get(id);
    if (!session) return false;
    this.live.delete(id);
    await session.sandbox.close();
    return true;
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    const expired = [...this.live.values()].filter((session) => session.busy === 0 && now - session.lastUsed > session.ttlMs);
    for (const session of expired) {
      this.options.logger.info('sandbox expired', { id: session.id, idleSeconds: Math.round((now - session.lastUsed) / 1000) });
      await this.closeSession(session.id).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const pooled = await Promise.all(this.pool.splice(0));
    await Promise.all([
      ...pooled.map((sandbox) => sandbox?.close()),
      ...[...this.live.keys()].map((id) => this.closeSession(id).catch(() => undefined)),
    ]);
    await this.backend.close();
  }
}

export function unknownSession(id: string): FathomError {
  return new FathomError('not_found', `No sandbox with id ${JSON.stringify(id)}`, {
    hint: 'It may have expired after being idle, or never existed: create a new one.',
  });
}
