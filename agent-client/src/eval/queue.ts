import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Queue, QueueEvents } from 'bullmq';
import type { Job, JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { FathomError, errorMessage } from '@fathom/core';
import type { Protocol } from '../agent.js';
import { EvalBook } from './book.js';
import type { BookOptions } from './book.js';
import { runKey } from './resume.js';
import { nextJob, resultLine } from './schedule.js';
import type { RunOutcome } from './schedule.js';
import type { EvalReport } from './stats.js';
import type { EvalProgress, EvalTask, WorkerLoad } from './types.js';

// The eval on a BullMQ queue in Redis: `fathom eval --queue` puts each run (task × run number) on
// a queue named after the eval and records what comes back; `fathom worker` processes (eval/worker.ts)
// take runs and send back each run's outcome with its trace gzipped. The eval alone scores and
// writes (EvalBook), so a run finished twice is counted once, and a restarted eval picks up from
// results.jsonl and the queue. Keys, all under `fathom:`:
//   fathom:evals                  the names of the evals in progress (what workers serve)
//   fathom:eval:<name>            the eval's record: its tasks' hash and run count
//   fathom:eval:<name>:file:<sha> an attached file, sent once for every run that needs it
//   fathom:eval:<name>:files      the keys of those files
//   fathom:q:<name>:*             BullMQ's own keys for the eval's queue

export const QUEUE_PREFIX = 'fathom:q';
export const EVALS_KEY = 'fathom:evals';
export const evalKey = (name: string) => `fathom:eval:${name}`;
export const fileKey = (name: string, hash: string) => `fathom:eval:${name}:file:${hash}`;
/** Redis holds a string of at most 512 MB; attached files stay well under it. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** How every run of an eval is driven: the part of the eval's command line a worker needs. */
export interface RunSettings {
  protocol: Protocol;
  agentConfig?: string;
  maxTurns?: number;
  keep?: number;
  /** The served model id and its endpoint, as the eval resolved them; a worker's own --model/--base-url win. */
  model?: string;
  baseUrl?: string;
  /** null: no time limit. */
  timeLimitMs: number | null;
}

export interface RunJobData {
  task: Omit<EvalTask, 'answer' | 'file'>;
  run: number;
  /** The attached file, by its content hash in Redis. */
  file?: { hash: string; name: string };
  settings: RunSettings;
}

export interface RunJobResult {
  outcome: RunOutcome;
  /** The trace file, gzipped, base64. */
  trace?: string;
  worker: string;
  attempt: number;
}

/** What a worker writes as its job's progress: which worker holds the run. */
export interface RunJobProgress {
  worker: string;
}

/** A Redis URL (redis:// or rediss://), checked; a clear error otherwise. */
export function redisUrl(value: string, flag = '--queue'): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new FathomError('invalid_argument', `${flag} ${JSON.stringify(value)} is not a URL`, { hint: 'Give a Redis URL: redis://HOST:PORT/DB (rediss:// for TLS).' });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new FathomError('invalid_argument', `${flag} must be a redis:// or rediss:// URL (got ${url.protocol}//)`, { hint: 'Give a Redis URL: redis://HOST:PORT/DB.' });
  }
  return value;
}

/**
 * A connection for BullMQ: commands wait through an outage (BullMQ needs maxRetriesPerRequest
 * null) while ioredis reconnects, backing off to 2 s between attempts.
 */
export function connectRedis(url: string, name: string): Redis {
  const redis = new Redis(redisUrl(url), {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: name,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
  });
  return redis;
}

/** BullMQ refuses ids with ':' and a task id can hold anything: `r<run>-<hash of the task id>`. */
export function jobIdOf(taskId: string, run: number): string {
  return `r${run}-${createHash('sha256').update(taskId).digest('hex').slice(0, 24)}`;
}

function hashTasks(tasks: EvalTask[]): string {
  const hash = createHash('sha256');
  for (const task of tasks) hash.update(JSON.stringify([task.task_id, task.question, task.answer ?? null])).update('\n');
  return hash.digest('hex');
}

export interface QueuedEvalOptions extends BookOptions {
  queueUrl: string;
  /** The eval's name: its queue and keys in Redis. */
  name: string;
  settings: RunSettings;
  /** Further attempts of a run whose failure was the infrastructure's (model endpoint, servers, a lost worker). */
  retries: number;
  /** Seconds between a run's attempts, doubling each time (default 5). */
  retryDelayMs?: number;
  onProgress?: (progress: EvalProgress) => void;
  /** Stops following: the runs on the queue go on on the workers, and the same command picks them up. */
  signal?: AbortSignal;
  /** How often the queue is read when no event came (default 2 s). */
  pollMs?: number;
}

export interface QueuedEvalReport extends EvalReport {
  /** False when the eval stopped following before every run was recorded. */
  complete: boolean;
}

/** Runs the eval on the queue until every run is recorded (or `signal`), then writes the summary and clears the eval from Redis. */
export async function runQueuedEval(options: QueuedEvalOptions): Promise<QueuedEvalReport> {
  const book = new EvalBook(options);
  const { name } = options;
  const redis = connectRedis(options.queueUrl, `fathom-eval:${name}`);
  const queue = new Queue<RunJobData, RunJobResult>(name, { connection: redis, prefix: QUEUE_PREFIX });
  // BullMQ leaves a connection it was given open on close(): each is disconnected here.
  const eventsConnection = redis.duplicate();
  const events = new QueueEvents(name, { connection: eventsConnection, prefix: QUEUE_PREFIX });
  const jobs = new Map<string, { task: EvalTask; run: number }>();
  for (const task of options.tasks) for (let run = 1; run <= options.runs; run++) jobs.set(jobIdOf(task.task_id, run), { task, run });
  /** Runs on the queue now, by run key. */
  const enqueued = new Set<string>();
  /** Which workers held runs when the queue was last read, for the live view. */
  let held: WorkerLoad[] = [];
  let wake: () => void = () => {};
  for (const event of ['completed', 'failed', 'active', 'stalled'] as const) events.on(event, () => wake());
  events.on('error', () => undefined);
  queue.on('error', () => undefined);

  try {
    await claimName(redis, name, hashTasks(options.tasks), options.runs);
    const files = await uploadFiles(redis, name, options.tasks);
    const settled = async (job: Job<RunJobData, RunJobResult>) => {
      const known = job.id ? jobs.get(job.id) : undefined;
      if (!known) return;
      const state = await job.getState();
      let outcome: RunOutcome;
      let trace: Buffer | undefined;
      if (state === 'completed' && job.returnvalue) {
        outcome = job.returnvalue.outcome;
        if (job.returnvalue.trace) trace = gunzipSync(Buffer.from(job.returnvalue.trace, 'base64'));
      } else if (state === 'failed') {
        outcome = { thrown: failureOf(job), timedOut: false, ms: job.finishedOn && job.processedOn ? job.finishedOn - job.processedOn : 0 };
      } else return;
      enqueued.delete(runKey(known.task.task_id, known.run));
      if (!book.has(known.task.task_id, known.run)) {
        const line = await resultLine(known.task, known.run, outcome, { ...(options.judge ? { judge: options.judge } : {}) });
        book.record(line, trace);
        options.onProgress?.(book.progress(enqueued.size, line, held));
      }
      await job.remove().catch(() => undefined);
    };

    // What the queue holds from before (this eval restarted): finished runs are recorded, the rest left running.
    const pending = [...jobs].filter(([, { task, run }]) => !book.has(task.task_id, run));
    for (let start = 0; start < pending.length; start += 200) {
      const found = await Promise.all(pending.slice(start, start + 200).map(([id]) => queue.getJob(id)));
      for (const job of found) {
        if (!job?.id) continue;
        const state = await job.getState();
        if (state === 'completed' || state === 'failed') await settled(job);
        else if (state !== 'unknown') enqueued.add(runKey(jobs.get(job.id)!.task.task_id, jobs.get(job.id)!.run));
      }
    }

    const attempts = options.retries + 1;
    const jobOptions = (id: string): JobsOptions => ({
      jobId: id,
      attempts,
      backoff: { type: 'exponential', delay: options.retryDelayMs ?? 5000 },
      removeOnComplete: false,
      removeOnFail: false,
    });
    const fill = async () => {
      const batch: { name: string; data: RunJobData; opts: JobsOptions }[] = [];
      for (let job = nextJob(options, book.finished, enqueued); job; job = nextJob(options, book.finished, enqueued)) {
        const { task, run } = job;
        enqueued.add(runKey(task.task_id, run));
        const { answer: _answer, file, ...shown } = task;
        const attached = file ? files.get(file) : undefined;
        batch.push({ name: 'run', data: { task: shown, run, settings: options.settings, ...(attached ? { file: attached } : {}) }, opts: jobOptions(jobIdOf(task.task_id, run)) });
      }
      for (let start = 0; start < batch.length; start += 500) await queue.addBulk(batch.slice(start, start + 500));
    };

    await fill();
    options.onProgress?.(book.progress(0, undefined, []));
    const pollMs = options.pollMs ?? 2000;
    while (enqueued.size > 0 && !options.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done() {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', done);
          wake = () => {};
          resolve();
        }
        wake = done;
        options.signal?.addEventListener('abort', done, { once: true });
      });
      for (const job of await queue.getJobs(['completed', 'failed'])) await settled(job);
      await fill();
      held = await loads(queue);
      options.onProgress?.(book.progress(enqueued.size, undefined, held));
    }
    const complete = enqueued.size === 0;
    if (complete) await clearEval(redis, queue, name);
    return { ...book.finish(), complete };
  } finally {
    await events.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    eventsConnection.disconnect();
    redis.disconnect();
  }
}

/** Why a run failed on the queue: a worker lost its lock too often, or a worker's own error. */
function failureOf(job: Job): string {
  const reason = job.failedReason || 'the run failed on the queue';
  if (/stalled more than allowable limit/i.test(reason)) return `the worker running it stopped without finishing (its lock expired) ${job.stalledCounter ?? ''} times`.replace('  ', ' ');
  return reason;
}

/** The runs each worker holds now (from the progress a worker writes on taking a run). */
async function loads(queue: Queue<RunJobData, RunJobResult>): Promise<WorkerLoad[]> {
  const counts = new Map<string, number>();
  for (const job of await queue.getActive()) {
    const worker = (job.progress as Partial<RunJobProgress> | undefined)?.worker ?? 'starting';
    counts.set(worker, (counts.get(worker) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([worker, running]) => ({ worker, running }));
}

/** Registers the eval, or checks that an eval of this name on the queue has these tasks. */
async function claimName(redis: Redis, name: string, tasks: string, runs: number): Promise<void> {
  const key = evalKey(name);
  const before = await redis.get(key);
  if (before) {
    const record = JSON.parse(before) as { tasks?: string };
    if (record.tasks !== tasks) {
      throw new FathomError('invalid_argument', `The queue already holds an eval named "${name}" with other tasks`, {
        hint: 'Name this one differently (--name), or let that one finish; its runs are kept under that name until it does.',
      });
    }
  }
  await redis.multi().set(key, JSON.stringify({ name, tasks, runs, updatedAt: new Date().toISOString() })).sadd(EVALS_KEY, name).exec();
}

/** Puts each attached file in Redis once (by content hash); task file path → where it is. */
async function uploadFiles(redis: Redis, name: string, tasks: EvalTask[]): Promise<Map<string, { hash: string; name: string }>> {
  const files = new Map<string, { hash: string; name: string }>();
  for (const task of tasks) {
    if (!task.file || files.has(task.file)) continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(task.file);
    } catch (error) {
      throw new FathomError('not_found', `Task ${task.task_id}: cannot read its file ${task.file}: ${errorMessage(error)}`, { hint: 'Check --files and the task line.' });
    }
    if (bytes.length > MAX_FILE_BYTES) {
      throw new FathomError('invalid_argument', `Task ${task.task_id}: its file is ${Math.round(bytes.length / 1e6)} MB, over the ${MAX_FILE_BYTES / 1024 / 1024} MB a queued eval sends`, {
        hint: 'Run that task without --queue, or make the file smaller.',
      });
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    const key = fileKey(name, hash);
    if (!(await redis.exists(key))) await redis.multi().set(key, bytes).sadd(`${evalKey(name)}:files`, key).exec();
    files.set(task.file, { hash, name: basename(task.file) });
  }
  return files;
}

/** Removes a finished eval's queue, record and files from Redis; workers stop serving it. */
async function clearEval(redis: Redis, queue: Queue, name: string): Promise<void> {
  await redis.srem(EVALS_KEY, name);
  await queue.obliterate({ force: true });
  const files = await redis.smembers(`${evalKey(name)}:files`);
  await redis.del(evalKey(name), `${evalKey(name)}:files`, ...files);
}
