import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { FathomError, errorMessage } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { kernelLostError } from '../format.js';
import { StreamCapture } from './capture.js';
import { sandboxPath } from './paths.js';
import { WORKSPACE } from './types.js';
import type { CapturedText, CellOutput, FileListing, KernelOutcome, KernelStop, RunOptions, Sandbox, SandboxBackend, ShellOutput } from './types.js';
import type { ReplyError, RunResult, WorkerInput, WorkerMessage, WorkerRequest } from './pyodide-worker.js';

// Tests run this module from its TypeScript source; the worker always runs the built JavaScript.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? '../../dist/backends/pyodide-worker.js' : './pyodide-worker.js', import.meta.url);
const KERNEL_URL = new URL('../../kernel/kernel.py', import.meta.url);

const SIGINT = 2;
/** How long interrupted code has to stop before its worker is replaced. */
const INTERRUPT_GRACE_MS = 5000;
const START_TIMEOUT_MS = 60_000;

type Outcome = { kind: 'done'; result: unknown } | { kind: 'failed'; error: ReplyError } | { kind: 'died'; reason: string };
type OutputSink = (stream: 'stdout' | 'stderr', data: Uint8Array) => void;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = WithoutId<WorkerRequest>;

interface Pending {
  settle(outcome: Outcome): void;
  output?: OutputSink;
}

/** One Pyodide worker thread. It never rejects a request: a dead worker answers `died`. */
class Interpreter {
  readonly ready: Promise<string>;
  private readonly worker: Worker;
  private readonly interruptSlot = new Int32Array(new SharedArrayBuffer(4));
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private death: string | undefined;
  private startFailed: (reason: string) => void = () => {};

  constructor(
    kernelSource: string,
    memoryMb: number | undefined,
    private readonly logger: Logger,
  ) {
    const input: WorkerInput = {
      kernelSource,
      workspace: WORKSPACE,
      interrupt: this.interruptSlot.buffer as SharedArrayBuffer,
      ...(memoryMb ? { memoryMb } : {}),
    };
    this.worker = new Worker(WORKER_URL, {
      workerData: input,
      // The server's environment (API keys) is not the interpreter's business.
      env: {},
      ...(memoryMb ? { resourceLimits: { maxOldGenerationSizeMb: memoryMb } } : {}),
      stdout: true,
      stderr: true,
    });
    // Whatever the worker prints must never reach stdout, the protocol channel in stdio mode.
    // (Captured stdio keeps the event loop alive until the sandbox is closed.)
    this.worker.stdout.resume();
    this.worker.stderr.on('data', (chunk: Buffer) => logger.debug('pyodide worker stderr', { text: chunk.toString('utf8').slice(0, 2000) }));
    const timer = setTimeout(() => this.die(`did not start within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    this.ready = new Promise<string>((resolve, reject) => {
      this.startFailed = (reason) => reject(new FathomError('unavailable', `Pyodide could not start: ${reason}`));
      this.worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve(message.python);
        } else this.receive(message);
      });
    });
    this.ready.catch(() => {});
    this.worker.on('error', (error: Error & { code?: string }) => {
      this.die(error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'ran out of memory' : `crashed (${error.message})`);
    });
    this.worker.on('exit', (code) => {
      clearTimeout(timer);
      this.die(`exited with code ${code}`);
    });
  }

  get dead(): boolean {
    return this.death !== undefined;
  }

  /** How it died ("exited with code 1"), once it has. */
  get deathReason(): string | undefined {
    return this.death;
  }

  request(request: Request, transfer: ArrayBuffer[] = [], output?: OutputSink): Promise<Outcome> {
    if (this.death !== undefined) return Promise.resolve({ kind: 'died', reason: this.death });
    const id = this.nextId++;
    return new Promise<Outcome>((settle) => {
      const done = (outcome: Outcome) => {
        this.pending.delete(id);
        settle(outcome);
      };
      this.pending.set(id, { settle: done, ...(output ? { output } : {}) });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  /** Raises KeyboardInterrupt in running Python code at its next bytecode check. */
  interrupt() {
    Atomics.store(this.interruptSlot, 0, SIGINT);
  }

  /** Drops an interrupt that arrived after the run it was meant for had ended. */
  clearInterrupt() {
    Atomics.store(this.interruptSlot, 0, 0);
  }

  terminate(reason: string): Promise<void> {
    this.die(reason);
    return this.worker.terminate().then(() => undefined);
  }

  private receive(message: Exclude<WorkerMessage, { type: 'ready' }>) {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'output') {
      pending.output?.(message.stream, message.data);
      return;
    }
    if (message.type === 'done') pending.settle({ kind: 'done', result: message.result });
    else if (message.type === 'failed') pending.settle({ kind: 'failed', error: message.error });
    else {
      this.logger.warn('pyodide fatal error', { error: message.message });
      pending.settle({ kind: 'died', reason: 'hit a fatal error (os._exit, or a crash inside WebAssembly)' });
      void this.terminate('fatal error');
    }
  }

  private die(reason: string) {
    if (this.death !== undefined) return;
    this.death = reason;
    this.startFailed(reason);
    for (const pending of [...this.pending.values()]) pending.settle({ kind: 'died', reason });
    void this.worker.terminate();
  }
}

/** Files live in the interpreter's in-memory file system: a replaced interpreter takes them along. */
function replaced(stop: KernelStop, ignoredInterrupt = false): KernelOutcome {
  return { kernel: 'restarted', files: 'lost', stop, ...(ignoredInterrupt ? { ignoredInterrupt } : {}) };
}

interface SandboxOptions {
  kernelSource: string;
  memoryMb: number | undefined;
  logger: Logger;
  onClose(sandbox: PyodideSandbox): void;
}

class PyodideSandbox implements Sandbox {
  readonly backend = 'pyodide' as const;
  private interpreter: Interpreter;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when the interpreter died between calls: told on the next run. */
  private lostBetweenCalls: KernelOutcome | undefined;

  constructor(
    readonly id: string,
    private readonly options: SandboxOptions,
  ) {
    this.interpreter = this.spawn();
  }

  started(): Promise<string> {
    return this.interpreter.ready;
  }

  runPython(code: string, options: RunOptions): Promise<CellOutput> {
    return this.serialize(async () => {
      const interpreter = await this.current();
      const before = this.lostBetweenCalls;
      this.lostBetweenCalls = undefined;
      const stdout = new StreamCapture(options.keepBytes);
      const stderr = new StreamCapture(options.keepBytes);
      let stopped: 'time' | 'cancel' | undefined;
      let grace: NodeJS.Timeout | undefined;
      const stop = (why: 'time' | 'cancel') => {
        if (stopped) return;
        stopped = why;
        interpreter.interrupt();
        grace = setTimeout(() => this.replace(interpreter, 'did not stop when interrupted'), INTERRUPT_GRACE_MS);
      };
      interpreter.clearInterrupt();
      const running = interpreter.request({ op: 'run', code, keepBytes: options.keepBytes }, [], (stream, data) =>
        (stream === 'stdout' ? stdout : stderr).push(Buffer.from(data)),
      );
      const timer = setTimeout(() => stop('time'), options.timeoutMs);
      const onAbort = () => stop('cancel');
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.signal?.aborted) onAbort();
      let outcome: Outcome;
      try {
        outcome = await running;
      } finally {
        clearTimeout(timer);
        clearTimeout(grace);
        options.signal?.removeEventListener('abort', onAbort);
      }

      const earlier = before ? { before } : {};
      const stopOf = (why: 'time' | 'cancel' | undefined): KernelStop | undefined =>
        why === 'time' ? { cause: 'time_limit', limitMs: options.timeoutMs } : why === 'cancel' ? { cause: 'cancelled' } : undefined;
      if (outcome.kind !== 'done') {
        this.assertOpen();
        const reason = outcome.kind === 'died' ? outcome.reason : `failed (${outcome.error.message})`;
        this.replace(interpreter, reason);
        const interrupted = stopOf(stopped);
        const outcomeOf = interrupted ? replaced(interrupted, true) : replaced({ cause: 'died', how: reason });
        return { stdout: stdout.take(0), stderr: stderr.take(0), figures: [], files: [], timedOut: stopped !== undefined, stopped: outcomeOf, ...earlier };
      }
      const result = outcome.result as RunResult;
      // An interrupt the code caught and lived past stopped nothing: the cell ran to its end.
      const interrupted = result.error?.name === 'KeyboardInterrupt' ? stopOf(stopped) : undefined;
      const withChunks = (text: CapturedText, chunks: number[] | null | undefined): CapturedText => (chunks ? { ...text, chunks } : text);
      return {
        stdout: withChunks(stdout.take(result.stdoutBytes), result.chunks?.stdout),
        stderr: withChunks(stderr.take(result.stderrBytes), result.chunks?.stderr),
        ...(result.value !== undefined ? { value: result.value } : {}),
        ...(result.error ? { error: result.error } : {}),
        ...(result.network_failure ? { networkFailure: true } : {}),
        figures: result.figures,
        files: result.files,
        timedOut: stopped !== undefined,
        ...(interrupted ? { stopped: { kernel: 'kept', files: 'kept', stop: interrupted } satisfies KernelOutcome } : {}),
        ...earlier,
      };
    });
  }

  async runShell(_command: string, _options: RunOptions): Promise<ShellOutput> {
    this.assertOpen();
    throw new FathomError('unavailable', 'The pyodide backend has no shell: Python runs in WebAssembly, without processes.', {
      hint: 'Run Python instead (subprocess is not available either); use the bwrap backend for shell commands.',
    });
  }

  async writeFile(path: string, data: Uint8Array): Promise<string> {
    const target = sandboxPath(path);
    const copy = data.slice();
    return (await this.fileOperation(target, { op: 'write', path: target, data: copy }, [copy.buffer])) as string;
  }

  async readFile(path: string, maxBytes: number): Promise<Uint8Array> {
    const target = sandboxPath(path);
    return (await this.fileOperation(target, { op: 'read', path: target, maxBytes })) as Uint8Array;
  }

  async listFiles(path: string, recursive: boolean): Promise<FileListing> {
    const target = sandboxPath(path);
    return (await this.fileOperation(target, { op: 'list', path: target, recursive })) as FileListing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.onClose(this);
    await this.interpreter.terminate('was closed');
  }

  private fileOperation(path: string, request: Request, transfer: ArrayBuffer[] = []): Promise<unknown> {
    return this.serialize(async () => {
      const interpreter = await this.current();
      const outcome = await interpreter.request(request, transfer);
      if (outcome.kind === 'done') return outcome.result;
      if (outcome.kind === 'failed') {
        throw new FathomError(outcome.error.code, outcome.error.message, outcome.error.hint ? { hint: outcome.error.hint } : {});
      }
      this.assertOpen();
      this.replace(interpreter, outcome.reason);
      throw kernelLostError(path, replaced({ cause: 'died', how: outcome.reason }));
    });
  }

  /** Runs tasks one at a time, in call order, whatever each one's outcome. */
  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  private assertOpen() {
    if (this.closed) throw new FathomError('not_found', 'This sandbox is closed', { hint: 'Create a new sandbox.' });
  }

  private async current(): Promise<Interpreter> {
    this.assertOpen();
    const death = this.interpreter.deathReason;
    if (death !== undefined) {
      this.lostBetweenCalls = replaced({ cause: 'died', how: death });
      this.interpreter = this.spawn();
    }
    const interpreter = this.interpreter;
    await interpreter.ready;
    this.assertOpen();
    return interpreter;
  }

  private spawn(): Interpreter {
    const { kernelSource, memoryMb, logger } = this.options;
    const started = Date.now();
    const interpreter = new Interpreter(kernelSource, memoryMb, logger);
    interpreter.ready.then(
      (python) => logger.debug('pyodide ready', { sandbox: this.id, python, ms: Date.now() - started }),
      (error: unknown) => logger.warn('pyodide failed to start', { sandbox: this.id, error: errorMessage(error) }),
    );
    return interpreter;
  }

  /** Ends a broken or stuck interpreter; a fresh one starts loading at once. */
  private replace(interpreter: Interpreter, reason: string) {
    if (this.interpreter !== interpreter || this.closed) return;
    this.options.logger.warn('pyodide interpreter replaced', { sandbox: this.id, reason });
    void interpreter.terminate(reason);
    this.interpreter = this.spawn();
  }
}

export interface PyodideBackendOptions {
  logger: Logger;
  /** Memory cap of each sandbox: its WebAssembly memory, and separately its worker's JavaScript heap. */
  memoryMb?: number;
}

/** Python in WebAssembly, one worker thread per sandbox: the portable fallback where bubblewrap is missing. */
export class PyodideBackend implements SandboxBackend {
  readonly name = 'pyodide' as const;
  private readonly sandboxes = new Set<PyodideSandbox>();
  private kernelSource: Promise<string> | undefined;
  private closed = false;

  constructor(private readonly options: PyodideBackendOptions) {}

  describe(): string {
    const memory = this.options.memoryMb ? `, ${this.options.memoryMb} MB of memory per session` : '';
    return (
      'pyodide: Python in WebAssembly, one worker thread per session; no network, no host files (an in-memory file system), ' +
      `standard library only (no numpy and the like), no shell${memory}; a weaker boundary than bwrap, as it shares the server process`
    );
  }

  async create(): Promise<Sandbox> {
    if (this.closed) throw new FathomError('unavailable', 'The pyodide backend is shutting down');
    const kernelSource = await this.kernel();
    const sandbox = new PyodideSandbox(`pyo_${randomBytes(10).toString('hex')}`, {
      kernelSource,
      memoryMb: this.options.memoryMb,
      logger: this.options.logger,
      onClose: (closed) => this.sandboxes.delete(closed),
    });
    this.sandboxes.add(sandbox);
    try {
      await sandbox.started();
    } catch (error) {
      await sandbox.close();
      throw error;
    }
    return sandbox;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sandboxes].map((sandbox) => sandbox.close()));
  }

  private kernel(): Promise<string> {
    this.kernelSource ??= readFile(KERNEL_URL, 'utf8').catch((error: unknown) => {
      this.kernelSource = undefined;
      throw new FathomError('unavailable', `The Python kernel could not be read: ${errorMessage(error)}`);
    });
    return this.kernelSource;
  }
}
