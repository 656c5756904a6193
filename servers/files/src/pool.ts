import { Worker } from 'node:worker_threads';
import { FathomError } from '@fathom/core';
import type { ErrorCode, Logger } from '@fathom/core';
import type { Job, JobReply } from './worker.js';

// Tests run this module from its TypeScript source; the worker always runs the built JavaScript.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? '../dist/worker.js' : './worker.js', import.meta.url);

interface Task {
  id: number;
  job: Job;
  timeoutMs: number;
  label: string;
  timedOut: TimeoutError;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Slot {
  worker: Worker;
  /** Whether the worker has loaded its modules (a loaded machine can take seconds). */
  ready: boolean;
  task?: Task;
  timer?: NodeJS.Timeout;
}

/** A worker that has not loaded its modules by then is taken for broken. */
const START_LIMIT_MS = 120_000;

/** The error for a job stopped at its time limit, given that limit in seconds. */
export type TimeoutError = (seconds: number) => FathomError;

const readingTooLong =
  (label: string): TimeoutError =>
  (seconds) =>
    new FathomError('timeout', `Reading ${label} took longer than ${seconds} s and was stopped`, { hint: 'Ask for fewer pages, or a smaller file.' });

export interface PoolOptions {
  size: number;
  /** Heap cap per worker: a document that needs more kills only its worker. */
  maxHeapMb?: number;
  logger: Logger;
}

/**
 * Converters run in worker threads: a hostile or broken file can exhaust a worker's heap, hang
 * it or crash it, and the worker is replaced while the server goes on.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  /** Runs `job` in a worker; past `timeoutMs` the worker is replaced and `timedOut` (by default: reading `label` took too long) rejects. */
  run<T>(job: Job, timeoutMs: number, label: string, timedOut: TimeoutError = readingTooLong(label)): Promise<T> {
    if (this.closed) return Promise.reject(new FathomError('unavailable', 'The server is shutting down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, timeoutMs, label, timedOut, resolve: resolve as (value: unknown) => void, reject });
      this.dispatch();
    });
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, {
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb ?? 1536 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    // A library that prints must never reach stdout, the protocol channel in stdio mode.
    worker.stdout.resume();
    worker.stderr.pipe(process.stderr);
    const slot: Slot = { worker, ready: false };
    slot.timer = setTimeout(() => this.fail(slot, new Error(`the worker did not start within ${START_LIMIT_MS / 1000} s`)), START_LIMIT_MS).unref();
    worker.on('message', ({ id, reply, ready }: { id?: number; reply?: JobReply; ready?: true }) => {
      if (ready) {
        slot.ready = true;
        clearTimeout(slot.timer);
        slot.timer = undefined;
        if (slot.task) this.startLimit(slot, slot.task);
        return;
      }
      const task = slot.task;
      if (!task || task.id !== id) return;
      this.finish(slot);
      if (reply?.ok) task.resolve(reply.value);
      else if (reply) task.reject(new FathomError(reply.error.code as ErrorCode, reply.error.message, reply.error.hint ? { hint: reply.error.hint } : {}));
      this.dispatch();
    });
    worker.on('error', (error) => this.fail(slot, error));
    worker.on('exit', (code) => this.fail(slot, new Error(`worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  private finish(slot: Slot) {
    clearTimeout(slot.timer);
    slot.task = undefined;
    slot.timer = undefined;
  }

  private fail(slot: Slot, error: Error) {
    const index = this.slots.indexOf(slot);
    if (index === -1) return;
    this.slots.splice(index, 1);
    const task = slot.task;
    this.finish(slot);
    if (task) {
      const outOfMemory = (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.options.logger.warn('converter worker died', { task: task.label, error: error.message });
      task.reject(
        new FathomError(
          outOfMemory ? 'too_large' : 'internal',
          outOfMemory ? `Reading ${task.label} needed more memory than allowed` : `The converter crashed on ${task.label}: ${error.message}`,
          { hint: 'The file may be damaged or hostile; try another copy or another format.' },
        ),
      );
    }
    void slot.worker.terminate();
    this.dispatch();
  }

  private dispatch() {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.slots.find((candidate) => !candidate.task);
      if (!slot) {
        if (this.slots.length >= this.options.size) return;
        slot = this.spawn();
      }
      const task = this.queue.shift()!;
      slot.task = task;
      // The worker takes the job once it is ready; its time limit counts from then, not from start-up.
      if (slot.ready) this.startLimit(slot, task);
      slot.worker.postMessage({ id: task.id, job: task.job });
    }
  }

  private startLimit(slot: Slot, task: Task) {
    slot.timer = setTimeout(() => {
      task.reject(task.timedOut(Math.round(task.timeoutMs / 1000)));
      this.fail(slot, new Error('timed out'));
    }, task.timeoutMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(new FathomError('unavailable', 'The server is shutting down'));
    await Promise.all(this.slots.splice(0).map((slot) => slot.worker.terminate()));
  }
}
