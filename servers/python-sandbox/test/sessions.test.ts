import { createLogger } from '@fathom/core';
import { describe, expect, it, vi } from 'vitest';
import type { CellOutput, Sandbox, SandboxBackend } from '../src/backends/types.js';
import { Sessions } from '../src/sessions.js';

/** An in-process backend recording what the session manager asks of it. */
class RecordingBackend implements SandboxBackend {
  readonly name = 'pyodide' as const;
  created = 0;
  closed: string[] = [];
  log: string[] = [];
  describe(): string {
    return 'recording';
  }
  /** How long a create takes, so that creates can overlap. */
  startMs = 0;
  async create(): Promise<Sandbox> {
    const id = `rec_${++this.created}`;
    if (this.startMs) await new Promise((resolve) => setTimeout(resolve, this.startMs));
    const { log, closed } = this;
    const cell = (): CellOutput => ({ stdout: { text: '', bytes: 0 }, stderr: { text: '', bytes: 0 }, figures: [], files: [], timedOut: false });
    return {
      id,
      backend: 'pyodide',
      async runPython(code) {
        log.push(`start ${code}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        log.push(`end ${code}`);
        return cell();
      },
      runShell: () => Promise.reject(new Error('no shell')),
      writeFile: (path) => Promise.resolve(path),
      readFile: () => Promise.resolve(new Uint8Array()),
      listFiles: () => Promise.resolve({ entries: [], omitted: 0 }),
      async close() {
        closed.push(id);
      },
    };
  }
  async close(): Promise<void> {}
}

const logger = createLogger('test', { write: () => {} });
const options = { warmPool: 2, maxLive: 3, defaultTtlMs: 60_000, maxTtlMs: 600_000, logger, replica: 'r1' };
const run = { timeoutMs: 1000, keepBytes: 100 };

describe('Sessions', () => {
  it('keeps a warm pool and hands out ready sandboxes', async () => {
    const backend = new RecordingBackend();
    const sessions = new Sessions(backend, options);
    expect(backend.created).toBe(2);
    const session = await sessions.create('me');
    // The id names this replica, then the backend's id.
    expect(session.id).toBe('r1.rec_1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(backend.created).toBe(3);
    await sessions.close();
    expect(backend.closed.sort()).toEqual(['rec_1', 'rec_2', 'rec_3']);
  });

  it('tells an id another replica handed out from an unknown one of its own', async () => {
    const sessions = new Sessions(new RecordingBackend(), { ...options, warmPool: 0 });
    try {
      await expect(sessions.use('r1.rec_9', 'me', async () => 1)).rejects.toMatchObject({ code: 'not_found' });
      await expect(sessions.use('rec_9', 'me', async () => 1)).rejects.toMatchObject({ code: 'not_found' });
      expect(sessions.foreign('r1.rec_9')).toBeUndefined();
      expect(sessions.foreign('r2.rec_9')).toBe('r2');
      await expect(sessions.use('r2.rec_9', 'me', async () => 1)).rejects.toMatchObject({
        code: 'wrong_replica',
        message: 'Sandbox r2.rec_9 was opened on replica r2; this is replica r1: the balancer sent the request elsewhere (the replica may have stopped, and its sandboxes with it: the state is lost)',
      });
    } finally {
      await sessions.close();
    }
  });

  it('runs the calls of one session one at a time, in order', async () => {
    const backend = new RecordingBackend();
    const sessions = new Sessions(backend, { ...options, warmPool: 0 });
    const { id } = await sessions.create('me');
    await Promise.all(['a', 'b', 'c'].map((code) => sessions.use(id, 'me', (sandbox) => sandbox.runPython(code, run))));
    expect(backend.log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    await sessions.close();
  });

  it('refuses sandboxes beyond the cap and closes idle ones', async () => {
    vi.useFakeTimers();
    try {
      const backend = new RecordingBackend();
      const sessions = new Sessions(backend, { ...options, warmPool: 0, maxLive: 2 });
      const first = await sessions.create('me', 5000);
      const second = await sessions.create('me', 60_000);
      await expect(sessions.create('me')).rejects.toThrow(/All 2 sandboxes/);
      await vi.advanceTimersByTimeAsync(4000);
      expect(sessions.get(first.id, 'me')).toBeDefined();
      expect(backend.closed).toEqual([]);
      await vi.advanceTimersByTimeAsync(2500);
      expect(sessions.get(first.id, 'me')).toBeUndefined();
      expect(sessions.get(second.id, 'me')).toBeDefined();
      expect(backend.closed).toEqual([first.sandbox.id]);
      await expect(sessions.use(first.id, 'me', async () => 1)).rejects.toThrow(/No sandbox with id/);
      expect((await sessions.create('me')).id).toBe('r1.rec_3');
      await sessions.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds the cap when creates overlap', async () => {
    const backend = new RecordingBackend();
    backend.startMs = 50;
    const sessions = new Sessions(backend, { ...options, warmPool: 0, maxLive: 3 });
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => sessions.create('me')));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => String((outcome as PromiseRejectedResult).reason))).toEqual(
      Array(5).fill(expect.stringMatching(/All 3 sandboxes/)),
    );
    expect(backend.created).toBe(3);
    await sessions.close();
  });

  it('lets only the owner reach a sandbox, and closes what an owner made when it goes', async () => {
    const backend = new RecordingBackend();
    const sessions = new Sessions(backend, { ...options, warmPool: 0 });
    const mine = await sessions.create('alice');
    const theirs = await sessions.create('bob');
    expect(sessions.get(mine.id, 'bob')).toBeUndefined();
    await expect(sessions.use(mine.id, 'bob', async () => 'used')).rejects.toThrow(`No sandbox with id "${mine.id}"`);
    expect(await sessions.closeSession(mine.id, 'bob')).toBe(false);
    expect(await sessions.use(mine.id, 'alice', async () => 'used')).toBe('used');
    await sessions.closeOwnedBy('alice');
    expect(backend.closed).toEqual([mine.sandbox.id]);
    expect(sessions.get(theirs.id, 'bob')).toBeDefined();
    await sessions.close();
  });

  it('clamps requested lifetimes', () => {
    const sessions = new Sessions(new RecordingBackend(), { ...options, warmPool: 0 });
    expect(sessions.ttlFor(undefined)).toBe(60_000);
    expect(sessions.ttlFor(30)).toBe(30_000);
    expect(sessions.ttlFor(100_000)).toBe(600_000);
    void sessions.close();
  });
});
