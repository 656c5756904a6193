import { randomBytes } from 'node:crypto';
import { FathomError, foreignReplica, withReplica, wrongReplicaError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import type { Sandbox, SandboxBackend } from './backends/types.js';

export interface SessionsOptions {
  warmPool: number;
  maxLive: number;
  /** Idle lifetime of a sandbox unless its creator asks for another. */
  defaultTtlMs: number;
  maxTtlMs: number;
  logger: Logger;
  /** The replica this server is (--replica-id): sandbox ids start with it, `<replica>.<backend's id>`. */
  replica?: string;
}

export interface Session {
  /** The backend's sandbox id, `<replica>.<id>` on a named replica: a replica behind a balancer tells the ids another one handed out. */
  readonly id: string;
  readonly sandbox: Sandbox;
  /** The MCP server instance (one client connection or HTTP session) that made it: the only one that may use it. */
  readonly owner: string;
  /** Names this sandbox's exports on the host, where others can list them; unrelated to the id. */
  readonly exportTag: string;
  readonly createdAt: number;
  ttlMs: number;
  lastUsed: number;
  calls: number;
  exported: { files: number; bytes: number };
  /** The tail of this session's call queue: calls on one sandbox run one at a time. */
  queue: Promise<unknown>;
  busy: number;
}

const SWEEP_MS = 2000;

/**
 * The live sandboxes of one server: a warm pool so `create` is instant, a cap, idle expiry, one
 * call at a time per sandbox, and each sandbox bound to the client that made it.
 */
export class Sessions {
  private readonly live = new Map<string, Session>();
  private readonly pool: Promise<Sandbox | undefined>[] = [];
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private poolFailures = 0;
  /** Creates under way: they count against the cap before their sandbox exists. */
  private starting = 0;
  readonly replica: string | undefined;

  constructor(
    readonly backend: SandboxBackend,
    private readonly options: SessionsOptions,
  ) {
    this.replica = options.replica;
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

  async create(owner: string, ttlMs = this.options.defaultTtlMs): Promise<Session> {
    if (this.closed) throw new FathomError('unavailable', 'The sandbox server is shutting down');
    if (this.live.size + this.starting >= this.options.maxLive) {
      throw new FathomError('rate_limited', `All ${this.options.maxLive} sandboxes this server allows are in use`, {
        hint: 'Close a sandbox you no longer need (or let idle ones expire), then try again; the operator can raise FATHOM_MAX_LIVE_SESSIONS.',
      });
    }
    this.starting++;
    let sandbox: Sandbox;
    try {
      sandbox = (await this.fromPool()) ?? (await this.backend.create());
    } finally {
      this.starting--;
    }
    // Starting a replacement forks a process: do it after this answer has gone out.
    setTimeout(() => this.refill(), 10);
    if (this.closed) {
      await sandbox.close();
      throw new FathomError('unavailable', 'The sandbox server is shutting down');
    }
    const now = Date.now();
    const session: Session = {
      id: withReplica(this.replica, sandbox.id),
      sandbox,
      owner,
      exportTag: randomBytes(6).toString('hex'),
      createdAt: now,
      ttlMs,
      lastUsed: now,
      calls: 0,
      exported: { files: 0, bytes: 0 },
      queue: Promise.resolve(),
      busy: 0,
    };
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

  /** The session `id` if `owner` made it; another client's sandbox is as good as missing. */
  get(id: string, owner: string): Session | undefined {
    const session = this.live.get(id);
    return session?.owner === owner ? session : undefined;
  }

  /** Runs `work` on the session's sandbox after the calls before it, keeping the sandbox alive meanwhile. */
  async use<T>(id: string, owner: string, work: (sandbox: Sandbox, session: Session) => Promise<T>): Promise<T> {
    const session = this.get(id, owner);
    if (!session) throw this.missing(id);
    session.busy++;
    const turn = session.queue.then(() => {
      if (!this.live.has(id)) throw this.missing(id);
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

  /** The other replica `id` names: a balancer sent a call for one of its sandboxes here. */
  foreign(id: string): string | undefined {
    return foreignReplica(id, this.replica);
  }

  /** The error for an id no live sandbox of `owner` has: another replica's, or not found. */
  missing(id: string): FathomError {
    const named = this.foreign(id);
    if (named === undefined) return unknownSession(id);
    return wrongReplicaError(`Sandbox ${id}`, named, this.replica, 'its sandboxes', 'Create a new sandbox (on a new MCP session if the balancer keeps sending this one here) and run its set-up again.');
  }

  async closeSession(id: string, owner: string): Promise<boolean> {
    const session = this.get(id, owner);
    if (!session) return false;
    await this.remove(session);
    return true;
  }

  /** Closes every sandbox `owner` made: its client went away. */
  async closeOwnedBy(owner: string): Promise<void> {
    const owned = [...this.live.values()].filter((session) => session.owner === owner);
    if (owned.length) this.options.logger.info('closing the sandboxes of a closed session', { sandboxes: owned.length });
    await Promise.all(owned.map((session) => this.remove(session).catch(() => undefined)));
  }

  private async remove(session: Session): Promise<void> {
    this.live.delete(session.id);
    await session.sandbox.close();
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    const expired = [...this.live.values()].filter((session) => session.busy === 0 && now - session.lastUsed > session.ttlMs);
    for (const session of expired) {
      this.options.logger.info('sandbox expired', { id: session.id, idleSeconds: Math.round((now - session.lastUsed) / 1000) });
      await this.remove(session).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const pooled = await Promise.all(this.pool.splice(0));
    await Promise.all([...pooled.map((sandbox) => sandbox?.close()), ...[...this.live.values()].map((session) => this.remove(session).catch(() => undefined))]);
    await this.backend.close();
  }
}

export function unknownSession(id: string): FathomError {
  return new FathomError('not_found', `No sandbox with id ${JSON.stringify(id)}`, {
    hint: 'It may have expired after being idle, or never existed: create a new one.',
  });
}
