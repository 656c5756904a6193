import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { FathomError, errorMessage, safeFileName } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { EVALS_KEY, QUEUE_PREFIX, connectRedis, fileKey } from './queue.js';
import type { RunJobData, RunJobResult, RunJobProgress, RunSettings } from './queue.js';
import { classify, executeRun } from './schedule.js';
import type { RunTask } from './types.js';

/** How a worker runs tasks for one set of run settings: its servers, started once, and the task runner on them. */
export interface Runner {
  runTask: RunTask;
  close(): Promise<void>;
}

export interface QueueWorkerOptions {
  queueUrl: string;
  /** Shown in the eval's live view; default host:pid. */
  name?: string;
  /** Runs at once, per eval served. */
  concurrency: number;
  /** Serve this eval only; default every eval on the queue, as they come and go. */
  evalName?: string;
  /** How long a run's lock lasts without renewal: a worker killed mid-run loses its run to another after this (default 30 s). */
  lockMs?: number;
  /** Starts the servers and runner for a set of run settings (once per distinct settings). */
  runner: (settings: RunSettings) => Promise<Runner>;
  logger: Logger;
  /** Stops taking runs; the running ones finish and are sent back. */
  signal?: AbortSignal;
  /** Cuts the running runs short too (they go back on the queue). */
  cancelRunning?: AbortSignal;
  onEvent?: (text: string) => void;
  /** How often the list of evals is read (default 2 s). */
  pollMs?: number;
}

/**
 * `fathom worker`: takes runs from the evals on the queue and sends back each one's outcome and
 * trace. A run's attempt that failed for the infrastructure's sake (the model endpoint, a server,
 * a crash) is thrown back to BullMQ, which runs it again after a backoff, up to the eval's attempts;
 * the last attempt's error goes back as the run's outcome, recorded as an error, not an answer.
 */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<void> {
  const id = options.name ?? `${hostname()}:${process.pid}`;
  const say = options.onEvent ?? (() => {});
  const redis = connectRedis(options.queueUrl, `fathom-worker:${id}`);
  redis.on('error', () => undefined);
  const files = join(tmpdir(), `fathom-worker-${process.pid}`);
  mkdirSync(files, { recursive: true });
  const workers = new Map<string, Worker<RunJobData, RunJobResult>>();
  const runners = new Map<string, Promise<Runner>>();
  let outage = false;

  const runnerFor = (settings: RunSettings): Promise<Runner> => {
    const key = JSON.stringify(settings);
    let runner = runners.get(key);
    if (!runner) {
      runner = options.runner(settings);
      runner.catch(() => runners.delete(key));
      runners.set(key, runner);
    }
    return runner;
  };

  const attachment = async (evalName: string, file: { hash: string; name: string }): Promise<string> => {
    const path = join(files, file.hash, safeFileName(file.name));
    if (existsSync(path)) return path;
    const bytes = await redis.getBuffer(fileKey(evalName, file.hash));
    if (!bytes) throw new FathomError('not_found', `The attached file ${file.name} is no longer on the queue`, { hint: 'Its eval was cleared; start the eval again.' });
    mkdirSync(join(files, file.hash), { recursive: true });
    writeFileSync(path, bytes);
    return path;
  };

  const processRun = (evalName: string) => async (job: Job<RunJobData, RunJobResult>): Promise<RunJobResult> => {
    const { task, run, settings, file } = job.data;
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    await job.updateProgress({ worker: id } satisfies RunJobProgress);
    say(`${evalName}: ${task.task_id} run ${run} (attempt ${attempt} of ${attempts})`);
    const { runTask } = await runnerFor(settings);
    const tracePath = join(files, `${job.id}-${attempt}.jsonl`);
    const local = { ...task, ...(file ? { file: await attachment(evalName, file) } : {}) };
    const outcome = await executeRun(local, run, tracePath, {
      runTask,
      timeLimitMs: settings.timeLimitMs ?? Infinity,
      ...(options.cancelRunning ? { cancelRunning: options.cancelRunning } : {}),
    });
    if (!outcome) throw new Error(`the worker ${id} stopped before the run ended`);
    const { status, error } = classify(outcome);
    if (status === 'error' && attempt < attempts) {
      rmSync(tracePath, { force: true });
      throw new Error(`attempt ${attempt} of ${attempts} failed on ${id}: ${error}`);
    }
    const trace = existsSync(tracePath) ? gzipSync(readFileSync(tracePath)).toString('base64') : undefined;
    rmSync(tracePath, { force: true });
    say(`${evalName}: ${task.task_id} run ${run} → ${status}${error ? ` (${error})` : ''}`);
    return { outcome, worker: id, attempt, ...(trace ? { trace } : {}) };
  };

  const serve = (evalName: string) => {
    const lockMs = options.lockMs ?? 30_000;
    const connection = redis.duplicate();
    const worker = new Worker<RunJobData, RunJobResult>(evalName, processRun(evalName), {
      connection,
      prefix: QUEUE_PREFIX,
      concurrency: options.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A run whose worker vanished goes back on the queue twice; a third loss fails it as an error.
      maxStalledCount: 2,
      name: id,
    });
    worker.on('error', (error) => {
      if (!outage) options.logger.warn('queue connection failed; reconnecting', { error: errorMessage(error) });
      outage = true;
    });
    worker.on('failed', (job, error) => job && options.logger.info('run attempt failed', { job: job.id, error: error.message }));
    // BullMQ leaves a connection it was given open on close().
    worker.on('closed', () => connection.disconnect());
    workers.set(evalName, worker);
    say(`serving eval ${evalName}`);
  };

  const refresh = async () => {
    const names = options.evalName ? [options.evalName] : await redis.smembers(EVALS_KEY);
    if (outage) {
      outage = false;
      options.logger.info('queue connection back');
    }
    for (const name of names) if (!workers.has(name)) serve(name);
    if (options.evalName) return;
    for (const [name, worker] of workers) {
      if (names.includes(name)) continue;
      workers.delete(name);
      await worker.close();
      say(`eval ${name} finished`);
    }
  };

  try {
    while (!options.signal?.aborted) {
      try {
        await refresh();
      } catch (error) {
        if (!outage) options.logger.warn('queue unreachable; retrying', { error: errorMessage(error) });
        outage = true;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, options.pollMs ?? 2000);
        function done() {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', done);
          resolve();
        }
        options.signal?.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    await Promise.all([...workers.values()].map((worker) => worker.close()));
    await Promise.all([...runners.values()].map(async (runner) => (await runner.catch(() => undefined))?.close()));
    redis.disconnect();
    rmSync(files, { recursive: true, force: true });
  }
}
