import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { trackChild } from '@fathom/core';
import { StreamCapture } from './capture.js';

/** Longest answer line the kernel may write; past it the kernel is stopped. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export interface KernelAnswer {
  id?: number;
  failure?: string;
  /** A FathomError code for a failure the caller caused (a missing file, a folder given as a file). */
  code?: string;
  [key: string]: unknown;
}

export type Outcome = { kind: 'answer'; answer: KernelAnswer } | { kind: 'timeout' } | { kind: 'aborted' } | { kind: 'exit'; reason: string };

export interface KernelCommand {
  /** The program and its arguments, started with an empty environment. */
  argv: string[];
  /** Bytes the program reads from file descriptors 5, 6, ...: its arguments, files to mount. */
  inputs: Buffer[];
  /** cgroup.procs files the process joins before it starts the program. */
  cgroupProcs: string[];
}

/** The file descriptors of the kernel's requests and answers in the started program. */
export const REQUEST_FD = 3;
export const ANSWER_FD = 4;
export const FIRST_INPUT_FD = 5;

/**
 * Splits the answer stream into lines with a bound: a line longer than `max` bytes is not kept;
 * `onOverflow` fires once instead.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  private overflowed = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.overflowed) return;
    let start = 0;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, start)) {
      if (!this.add(chunk.subarray(start, at))) return;
      const line = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.size = 0;
      start = at + 1;
      this.onLine(line);
    }
    this.add(chunk.subarray(start));
  }

  private add(part: Buffer): boolean {
    this.size += part.length;
    if (this.size > this.max) {
      this.overflowed = true;
      this.parts = [];
      this.onOverflow();
      return false;
    }
    if (part.length) this.parts.push(Buffer.from(part));
    return true;
  }
}

/** bwrap passes its child's death by a signal on as exit code 128 + the signal's number. */
function exitReason(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  const name = code !== null && code > 128 ? Object.entries(constants.signals).find(([, number]) => number === code - 128)?.[0] : undefined;
  return name ? `was killed by ${name}` : `exited with code ${code}`;
}

/** One Python kernel process (inside bubblewrap), and the line protocol to it. */
export class KernelProcess {
  readonly child: ChildProcess;
  readonly stdout = new StreamCapture();
  readonly stderr = new StreamCapture();
  readonly exited: Promise<string>;
  readonly ready: Promise<void>;
  /** Set when the kernel wrote an answer line past MAX_ANSWER_BYTES and was stopped for it. */
  overflowed = false;
  private nextId = 1;
  private waiting = new Map<number, (answer: KernelAnswer) => void>();
  private exitReason: string | undefined;
  private started = false;

  constructor(command: KernelCommand) {
    const join = command.cgroupProcs.map((file) => `echo $$ > '${file}'`).join(' && ');
    const script = `${join ? join + ' && ' : ''}exec "$0" "$@"`;
    const inputs = command.inputs.map(() => 'pipe' as const);
    this.child = spawn('/bin/sh', ['-c', script, ...command.argv], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...inputs],
      detached: true,
      env: {},
      // The shell exports its working folder as PWD, which bwrap's first process keeps.
      cwd: '/',
    });
    trackChild(this.child);
    // A kernel that dies mid-write breaks its pipes; its exit is what reports that, not these errors.
    for (const stream of this.child.stdio) (stream as NodeJS.EventEmitter | null)?.on('error', () => undefined);
    command.inputs.forEach((data, index) => (this.child.stdio[FIRST_INPUT_FD + index] as Writable).end(data));
    this.child.stdout!.on('data', (chunk: Buffer) => this.stdout.push(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    let onReady: () => void = () => {};
    let onFail: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    const lines = new LineReader(MAX_ANSWER_BYTES, (line) => this.answer(line, onReady), () => {
      this.overflowed = true;
      this.kill();
    });
    (this.child.stdio[ANSWER_FD] as Readable).on('data', (chunk: Buffer) => lines.push(chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('error', (error) => {
        this.exitReason = error.message;
        onFail(error);
        resolve(error.message);
      });
      this.child.on('exit', (code, signal) => {
        this.exitReason = exitReason(code, signal);
        if (!this.started) onFail(new Error(`the kernel ${this.exitReason} before it was ready: ${this.stderr.take().text.trim().slice(-2000)}`));
        resolve(this.exitReason);
      });
    });
  }

  private answer(line: string, onReady: () => void): void {
    let answer: KernelAnswer;
    try {
      answer = JSON.parse(line) as KernelAnswer;
    } catch {
      return;
    }
    if (typeof answer !== 'object' || answer === null) return;
    if (answer.ready === true && !this.started) {
      this.started = true;
      onReady();
      return;
    }
    const waiter = typeof answer.id === 'number' ? this.waiting.get(answer.id) : undefined;
    if (waiter) {
      this.waiting.delete(answer.id!);
      waiter(answer);
    }
  }

  get alive(): boolean {
    return this.exitReason === undefined;
  }

  /** Sends one request and waits for its answer and the end of its output, the limit, an abort or the kernel's death. */
  async call(request: Record<string, unknown>, timeoutMs: number, keepBytes: number, signal?: AbortSignal): Promise<Outcome> {
    const id = this.nextId++;
    const end = `__fathom_end_${randomBytes(16).toString('hex')}__`;
    const marker = `\n${end}\n`;
    const outputs = Promise.all([this.stdout.begin(marker, keepBytes), this.stderr.begin(marker, keepBytes)]);
    const answered = new Promise<KernelAnswer>((resolve) => this.waiting.set(id, resolve));
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stops = [
      new Promise<Outcome>((resolve) => (timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs))),
      this.exited.then((reason): Outcome => ({ kind: 'exit', reason })),
      new Promise<Outcome>((resolve) => {
        if (!signal) return;
        onAbort = () => resolve({ kind: 'aborted' });
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }),
    ];
    const done = Promise.all([answered, outputs]).then(([answer]): Outcome => ({ kind: 'answer', answer }));
    (this.child.stdio[REQUEST_FD] as Writable).write(JSON.stringify({ ...request, id, end }) + '\n');
    try {
      return await Promise.race([done, ...stops]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      this.waiting.delete(id);
    }
  }

  kill(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }
}
