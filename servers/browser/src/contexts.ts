import { randomBytes } from 'node:crypto';
import { FathomError, foreignReplica, withReplica, wrongReplicaError } from '@fathom/core';
import type { BrowserSession } from './session.js';

interface Entry {
  owner: string;
  /** The MCP session's own context (the one used without a context_id), else one browser_open opened. */
  own: boolean;
  /** An opened context once open: gone (closed after idle time, or its browser crashed) when `closed`. */
  session?: BrowserSession;
}

/**
 * The browser contexts a context_id can name, across every server instance on one browser: each
 * belongs to the instance (the MCP session) that opened it, and only that instance may use it.
 * Ids are `ctx_<hex>`, `<replica>.ctx_<hex>` on a named replica: behind a balancer, a replica tells the ids another one handed out.
 */
export class ContextRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly own = new Map<string, string>();

  constructor(readonly replica: string | undefined) {}

  /** The id of `owner`'s own context, the one its tools use without a context_id. */
  ownId(owner: string): string {
    let id = this.own.get(owner);
    if (!id) {
      id = this.newId();
      this.own.set(owner, id);
      this.entries.set(id, { owner, own: true });
    }
    return id;
  }

  /** A new context id for `owner`; its context opens on `attach`. */
  open(owner: string): string {
    const id = this.newId();
    this.entries.set(id, { owner, own: false });
    return id;
  }

  attach(id: string, session: BrowserSession): void {
    const entry = this.entries.get(id);
    if (entry) entry.session = session;
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  /** What `id` names for `owner`: its own context, or an opened one that is still open. */
  lookup(id: string, owner: string): { own: boolean } {
    const entry = this.entries.get(id);
    if (entry?.session?.closed) this.entries.delete(id);
    const named = entry ? undefined : foreignReplica(id, this.replica);
    if (named !== undefined) {
      throw wrongReplicaError(`Browser context ${id}`, named, this.replica, 'its browser contexts', "Call browser_open for a new context (or leave context_id out to use this session's own), then browser_navigate again.");
    }
    if (!entry || entry.session?.closed) {
      throw new FathomError('not_found', `No open browser context ${id}: it closed after its idle time, when the MCP session that opened it ended, or when the browser restarted`, {
        hint: 'Call browser_open for a new context (or leave context_id out to use this session\'s own), then browser_navigate again.',
      });
    }
    if (entry.owner !== owner) {
      throw new FathomError('forbidden', `Browser context ${id} belongs to another client`, {
        hint: 'Use a context this client opened with browser_open, or leave context_id out.',
      });
    }
    return { own: entry.own };
  }

  /** Forgets `owner`'s contexts and returns the opened ones, to be closed: its MCP session ended. */
  release(owner: string): string[] {
    this.own.delete(owner);
    const opened: string[] = [];
    for (const [id, entry] of this.entries) {
      if (entry.owner !== owner) continue;
      this.entries.delete(id);
      if (!entry.own) opened.push(id);
    }
    return opened;
  }

  private newId(): string {
    return withReplica(this.replica, `ctx_${randomBytes(16).toString('hex')}`);
  }
}
