import { CommandExitError, Sandbox as RemoteSandbox } from '@e2b/code-interpreter';
import type { CommandHandle, CommandResult, EntryInfo, Execution, ExecutionError, Result } from '@e2b/code-interpreter';
import { errorMessage, FathomError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { cancelledRunError } from '../format.js';
import { StreamCapture } from './capture.js';
import { sandboxPath } from './paths.js';
import type {
  CapturedText,
  CellOutput,
  FileChange,
  FileEntry,
  FileListing,
  KernelOutcome,
  PythonError,
  RunOptions,
  Sandbox,
  SandboxBackend,
  ShellOutput,
} from './types.js';
import { WORKSPACE } from './types.js';

/** The template `@e2b/code-interpreter` starts when none is given. */
export const DEFAULT_TEMPLATE = 'code-interpreter-v1';

const SNAPSHOT_DEPTH = 3;
const SNAPSHOT_LIMIT = 2000;
const SNAPSHOT_REQUEST_MS = 10_000;
const LIST_DEPTH = 16;
const LIST_LIMIT = 5000;
/** How long an idle kernel gets to answer after a cell overran its limit. */
const PROBE_MS = 10_000;
/** Extra sandbox lifetime beyond a run's own limit, so the sandbox outlives the run. */
const LIFETIME_MARGIN_MS = 60_000;
/** Extra time on the command stream, so our own timer (which kills the command) fires first. */
const STREAM_GRACE_MS = 10_000;
const DRAIN_MS = 2_000;

const KEY_HINT =
  'Set a valid E2B API key in E2B_API_KEY or FATHOM_E2B_API_KEY (keys are listed at https://e2b.dev/dashboard?tab=keys).';
const NEW_SANDBOX_HINT = 'Create a new sandbox; the files of the old one are gone.';

export interface E2BBackendOptions {
  apiKey: string;
  template?: string;
  /** Idle lifetime of a remote sandbox; every call extends it. */
  sandboxTimeoutMs: number;
  logger: Logger;
}

/** The parts of an SDK `Execution` the mapping reads. */
export interface ExecutionLike {
  results: ReadonlyArray<Pick<Result, 'isMainResult' | 'text' | 'png'>>;
  logs: { stdout: readonly string[]; stderr: readonly string[] };
  error?: Pick<ExecutionError, 'name' | 'value' | 'traceback'> | undefined;
}

export type CommandLike = Pick<CommandResult, 'exitCode' | 'stdout' | 'stderr'>;

/** The parts of an SDK `EntryInfo` the mapping reads. */
export interface EntryLike {
  path: string;
  type?: string | undefined;
  size: number;
  modifiedTime?: Date | undefined;
}

/** Files under /home/user by path; `through` is the last path kept when the listing was cut short. */
export interface Listing {
  files: Map<string, { size: number; modified: number | undefined }>;
  through?: string;
}

/** What became of the kernel after a cell overran: still alive, restarted, or not known. */
export type KernelState = KernelOutcome['kernel'];

/** The SDK sandbox methods this backend uses. */
export type RemoteLike = Pick<
  RemoteSandbox,
  'sandboxId' | 'runCode' | 'commands' | 'files' | 'setTimeout' | 'kill' | 'listCodeContexts' | 'restartCodeContext'
>;

export class E2BBackend implements SandboxBackend {
  readonly name = 'e2b' as const;
  private readonly live = new Set<E2BSandbox>();

  constructor(private readonly options: E2BBackendOptions) {}

  describe(): string {
    const template = this.options.template ?? `${DEFAULT_TEMPLATE} (default)`;
    const lifetime = Math.round(this.options.sandboxTimeoutMs / 1000);
    return `e2b: remote E2B sandboxes, one cloud VM each (template ${template}); idle lifetime ${lifetime}s, extended by every call; limits are those of the E2B plan`;
  }

  async create(): Promise<Sandbox> {
    const { apiKey, template, sandboxTimeoutMs, logger } = this.options;
    let remote: RemoteSandbox;
    try {
      remote = await RemoteSandbox.create({ apiKey, template, timeoutMs: sandboxTimeoutMs });
    } catch (error) {
      const mapped = errorFrom(error);
      if (mapped.code === 'not_found' && template) {
        throw new FathomError('invalid_config', `E2B could not start template "${template}": ${mapped.message}`, {
          hint: 'Check the template name (FATHOM_E2B_TEMPLATE), or leave it unset for the code-interpreter template.',
          cause: error,
        });
      }
      throw mapped;
    }
    logger.info('E2B sandbox created', { sandbox: remote.sandboxId, template: template ?? DEFAULT_TEMPLATE });
    const sandbox = new E2BSandbox(remote, { sandboxTimeoutMs, logger, onClose: (closed) => this.live.delete(closed) });
    this.live.add(sandbox);
    return sandbox;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.live].map((sandbox) => sandbox.close()));
  }
}

export class E2BSandbox implements Sandbox {
  readonly id: string;
  readonly backend = 'e2b' as const;
  private closed = false;
  /** Set after a cancelled cell: the next cell waits until the kernel is known to be free, and hears what became of it. */
  private settling: Promise<KernelState> | undefined;

  constructor(
    private readonly remote: RemoteLike,
    private readonly options: { sandboxTimeoutMs: number; logger: Logger; onClose?: (sandbox: E2BSandbox) => void },
  ) {
    this.id = remote.sandboxId;
  }

  private get log(): Logger {
    return this.options.logger;
  }

  runPython(code: string, options: RunOptions): Promise<CellOutput> {
    return this.call(options.timeoutMs, async () => {
      throwIfAborted(options.signal);
      let cancelled: KernelOutcome | undefined;
      if (this.settling) {
        const state = await this.settling.finally(() => (this.settling = undefined));
        if (state !== 'kept') cancelled = { kernel: state, files: 'kept', stop: { cause: 'cancelled' }, ...(state === 'restarted' ? { ignoredInterrupt: true } : {}) };
      }
      const before = await this.snapshot();
      const seen = { results: [] as Result[], logs: { stdout: [] as string[], stderr: [] as string[] }, error: undefined as ExecutionError | undefined };
      const started = Date.now();
      let output: CellOutput;
      try {
        const execution: Execution = await raceAbort(
          this.remote.runCode(code, {
            language: 'python',
            timeoutMs: options.timeoutMs,
            onStdout: (message) => {
              seen.logs.stdout.push(message.line);
            },
            onStderr: (message) => {
              seen.logs.stderr.push(message.line);
            },
            onResult: (result) => {
              seen.results.push(result);
            },
            onError: (error) => {
              seen.error = error;
            },
          }),
          options.signal,
        );
        output = cellOutputFrom(execution, options.keepBytes);
      } catch (error) {
        if (error instanceof FathomError && error.code === 'cancelled') {
          this.settling = this.settleKernel();
          throw cancelledRunError(PROBE_MS);
        }
        if (!isRunTimeout(error, Date.now() - started, options.timeoutMs)) throw error;
        const { error: _interrupt, ...cut } = cellOutputFrom(seen, options.keepBytes);
        output = { ...cut, timedOut: true, stopped: timeoutOutcome(options.timeoutMs, await this.settleKernel()) };
      }
      if (cancelled) output.before = cancelled;
      const after = before && (await this.snapshot());
      if (before && after) output.files = fileChanges(before, after);
      return output;
    });
  }

  runShell(command: string, options: RunOptions): Promise<ShellOutput> {
    return this.call(options.timeoutMs, async () => {
      throwIfAborted(options.signal);
      const handle = await this.remote.commands.run(command, {
        background: true,
        cwd: WORKSPACE,
        timeoutMs: options.timeoutMs + STREAM_GRACE_MS,
      });
      const timer = delay(options.timeoutMs);
      try {
        const ending = await raceAbort(Promise.race([exitOf(handle), timer.done]), options.signal);
        if (ending !== 'timeout') return shellOutputFrom(ending, options.keepBytes);
        await this.stop(handle);
        return shellOutputFrom({ exitCode: -1, stdout: handle.stdout, stderr: handle.stderr }, options.keepBytes, true);
      } catch (error) {
        if (error instanceof FathomError && error.code === 'cancelled') void this.stop(handle);
        throw error;
      } finally {
        timer.cancel();
      }
    });
  }

  writeFile(path: string, data: Uint8Array): Promise<string> {
    const target = sandboxPath(path);
    return this.call(0, async () => {
      const info = await this.remote.files.write(target, data.slice().buffer).catch((error: unknown) => {
        throw fileErrorFrom(error, target);
      });
      return info.path || target;
    });
  }

  readFile(path: string, maxBytes: number): Promise<Uint8Array> {
    const target = sandboxPath(path);
    return this.call(0, async () => {
      const info = await this.info(target);
      if (info.type === 'dir') throw new FathomError('invalid_argument', `${target} is a folder`, { hint: 'List it instead, or give a file path.' });
      if (info.size > maxBytes) throw tooLarge(target, info.size, maxBytes);
      const data = await this.remote.files.read(target, { format: 'bytes' }).catch((error: unknown) => {
        throw fileErrorFrom(error, target);
      });
      if (data.length > maxBytes) throw tooLarge(target, data.length, maxBytes);
      return data;
    });
  }

  listFiles(path: string, recursive: boolean): Promise<FileListing> {
    const target = sandboxPath(path);
    return this.call(0, async () => {
      const info = await this.info(target);
      if (info.type !== 'dir') return { entries: [fileEntryFrom(info)], omitted: 0 };
      const entries = await this.remote.files.list(target, { depth: recursive ? LIST_DEPTH : 1 }).catch((error: unknown) => {
        throw fileErrorFrom(error, target);
      });
      const sorted = entries.map(fileEntryFrom).sort((a, b) => compare(a.path, b.path));
      return { entries: sorted.slice(0, LIST_LIMIT), omitted: Math.max(0, sorted.length - LIST_LIMIT) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.onClose?.(this);
    try {
      await this.remote.kill();
      this.log.debug('E2B sandbox killed', { sandbox: this.id });
    } catch (error) {
      const mapped = errorFrom(error);
      if (mapped.code !== 'not_found') {
        this.log.warn('Could not kill the E2B sandbox; it ends by itself when its lifetime runs out', { sandbox: this.id, error: mapped.message });
      }
    }
  }

  /** Runs one call: extends the sandbox lifetime alongside it and maps SDK errors. */
  private async call<T>(runMs: number, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new FathomError('not_found', `Sandbox ${this.id} was closed`, { hint: NEW_SANDBOX_HINT });
    const lifetime = Math.max(this.options.sandboxTimeoutMs, runMs + LIFETIME_MARGIN_MS);
    const touched = this.remote.setTimeout(lifetime).then(
      () => undefined,
      (error: unknown) => error,
    );
    let result: T;
    try {
      result = await work();
    } catch (error) {
      const touchError = await touched;
      const gone = touchError === undefined ? undefined : errorFrom(touchError);
      throw gone?.code === 'not_found' ? gone : errorFrom(error);
    }
    const touchError = await touched;
    if (touchError !== undefined) this.log.warn('Could not extend the E2B sandbox lifetime', { sandbox: this.id, error: errorMessage(touchError) });
    return result;
  }

  private async info(path: string): Promise<EntryInfo> {
    return this.remote.files.getInfo(path).catch((error: unknown) => {
      throw fileErrorFrom(error, path);
    });
  }

  private async snapshot(): Promise<Listing | undefined> {
    try {
      return listingFrom(await this.remote.files.list(WORKSPACE, { depth: SNAPSHOT_DEPTH, requestTimeoutMs: SNAPSHOT_REQUEST_MS }));
    } catch (error) {
      this.log.debug('Listing the E2B workspace failed; file changes are not reported', { sandbox: this.id, error: errorMessage(error) });
      return undefined;
    }
  }

  /**
   * After a cell overran or was cancelled: newer E2B templates interrupt the kernel when the client
   * hangs up, older ones let the cell run on. A quick probe cell tells which; a kernel still busy
   * is restarted so later cells do not queue behind it.
   */
  private async settleKernel(): Promise<KernelState> {
    try {
      await this.remote.runCode('pass', { language: 'python', timeoutMs: PROBE_MS });
      return 'kept';
    } catch (error) {
      this.log.debug('The E2B kernel did not answer after an overrun; restarting it', { sandbox: this.id, error: errorMessage(error) });
    }
    try {
      const contexts = await this.remote.listCodeContexts();
      const python = [...new Set(contexts.filter((context) => context.language === 'python').map((context) => context.id))];
      if (!python.length) return 'unknown';
      for (const id of python) await this.remote.restartCodeContext(id);
      await this.remote.runCode(`__import__('os').chdir(${JSON.stringify(WORKSPACE)})`, { language: 'python', timeoutMs: PROBE_MS });
      return 'restarted';
    } catch (error) {
      this.log.warn('Could not restart the E2B Python kernel', { sandbox: this.id, error: errorMessage(error) });
      return 'unknown';
    }
  }

  /** Kills a command and gives its last output a moment to arrive. */
  private async stop(handle: CommandHandle): Promise<void> {
    await handle.kill().catch((error: unknown) => this.log.warn('Could not kill an E2B command', { sandbox: this.id, error: errorMessage(error) }));
    const drain = delay(DRAIN_MS);
    await Promise.race([handle.wait().catch(() => undefined), drain.done]);
    drain.cancel();
    await handle.disconnect().catch(() => undefined);
  }
}

export function captured(chunks: readonly string[], keepBytes: number): CapturedText {
  return StreamCapture.of(chunks, keepBytes);
}

/** A cell's stream as E2B sent it: one string per kernel message, whose lengths are kept. */
function messages(chunks: readonly string[], keepBytes: number): CapturedText {
  return { ...captured(chunks, keepBytes), chunks: chunks.map((chunk) => [...chunk].length) };
}

export function cellOutputFrom(execution: ExecutionLike, keepBytes: number): CellOutput {
  const value = execution.results.find((result) => result.isMainResult)?.text;
  return {
    stdout: messages(execution.logs.stdout, keepBytes),
    stderr: messages(execution.logs.stderr, keepBytes),
    ...(value !== undefined ? { value } : {}),
    ...(execution.error ? { error: pythonErrorFrom(execution.error) } : {}),
    figures: execution.results.flatMap((result) => (result.png ? [result.png] : [])),
    files: [],
    timedOut: false,
  };
}

export function pythonErrorFrom(error: Pick<ExecutionError, 'name' | 'value' | 'traceback'>): PythonError {
  return { name: error.name, value: error.value, traceback: stripAnsi(error.traceback) };
}

export function shellOutputFrom(result: CommandLike, keepBytes: number, timedOut = false): ShellOutput {
  return {
    exitCode: result.exitCode,
    stdout: captured([result.stdout], keepBytes),
    stderr: captured([result.stderr], keepBytes),
    timedOut,
  };
}

/** The result a finished command carries when the SDK threw it as a CommandExitError (a non-zero exit). */
export function commandResultOf(error: unknown): CommandLike | undefined {
  if (!(error instanceof CommandExitError)) return undefined;
  return { exitCode: error.exitCode, stdout: error.stdout, stderr: error.stderr };
}

/** Whether a runCode failure is the cell's own time limit (not the sandbox going away). */
export function isRunTimeout(error: unknown, elapsedMs: number, limitMs: number): boolean {
  if (!(error instanceof Error) || error.name !== 'TimeoutError' || sandboxGone(error.message)) return false;
  return /execution timed out/i.test(error.message) || elapsedMs >= limitMs;
}

/**
 * What a cell that overran its limit left, by what became of the kernel: E2B interrupts it when
 * the client hangs up, and a kernel still busy after that is restarted. Files are remote and stay.
 */
export function timeoutOutcome(limitMs: number, state: KernelState): KernelOutcome {
  return { kernel: state, files: 'kept', stop: { cause: 'time_limit', limitMs }, ...(state === 'restarted' ? { ignoredInterrupt: true } : {}) };
}

export function listingFrom(entries: readonly EntryLike[], limit = SNAPSHOT_LIMIT): Listing {
  const files = entries
    .filter((entry) => entry.type === 'file' && !inHiddenFolder(entry.path))
    .sort((a, b) => compare(a.path, b.path));
  const kept = files.slice(0, limit);
  const listing: Listing = { files: new Map(kept.map((entry) => [entry.path, { size: entry.size, modified: entry.modifiedTime?.getTime() }])) };
  if (files.length > limit) listing.through = kept.at(-1)?.path ?? '';
  return listing;
}

/** Files created, modified or deleted between two listings, within the range both covered. */
export function fileChanges(before: Listing, after: Listing): FileChange[] {
  const bounds = [before.through, after.through].filter((bound): bound is string => bound !== undefined).sort(compare);
  const bound = bounds[0];
  const covered = (path: string) => bound === undefined || compare(path, bound) <= 0;
  const changes: FileChange[] = [];
  for (const [path, now] of after.files) {
    if (!covered(path)) continue;
    const then = before.files.get(path);
    if (!then) changes.push({ path, change: 'created', size: now.size });
    else if (then.size !== now.size || then.modified !== now.modified) changes.push({ path, change: 'modified', size: now.size });
  }
  for (const [path, then] of before.files) {
    if (covered(path) && !after.files.has(path)) changes.push({ path, change: 'deleted', size: then.size });
  }
  return changes.sort((a, b) => compare(a.path, b.path));
}

export function fileEntryFrom(entry: EntryLike): FileEntry {
  const type = entry.type === 'file' ? 'file' : entry.type === 'dir' ? 'directory' : entry.type === 'symlink' ? 'symlink' : 'other';
  return { path: entry.path, type, size: entry.size, modified: (entry.modifiedTime ?? new Date(0)).toISOString() };
}

/** An SDK (or transport) failure as a FathomError with a code and a way forward. */
export function errorFrom(error: unknown): FathomError {
  if (error instanceof FathomError) return error;
  const message = errorMessage(error);
  const name = error instanceof Error ? error.name : '';
  const status = statusOf(error);
  const options = { cause: error };
  if (isNetworkFailure(error)) {
    return new FathomError('network', `E2B could not be reached: ${message}`, {
      ...options,
      hint: 'Check that this machine can reach the internet (and E2B_DOMAIN or the proxy, if set), then retry.',
    });
  }
  if (name === 'AuthenticationError' || status === 401 || status === 403) {
    return new FathomError('forbidden', `E2B refused the API key: ${message}`, { ...options, hint: KEY_HINT });
  }
  if (name === 'RateLimitError' || status === 429) {
    return new FathomError('rate_limited', `E2B is rate limiting requests: ${message}`, {
      ...options,
      hint: 'Wait a little and retry, or close sandboxes no longer needed (the E2B plan caps concurrent sandboxes).',
    });
  }
  if (name === 'ServiceBusyError' || status === 503) {
    return new FathomError('unavailable', `E2B is busy: ${message}`, { ...options, hint: 'Retry in a few seconds.' });
  }
  if (name === 'SandboxNotFoundError' || sandboxGone(message)) {
    return new FathomError('not_found', `The E2B sandbox is gone (its lifetime ran out or it was killed): ${message}`, {
      ...options,
      hint: NEW_SANDBOX_HINT,
    });
  }
  if (name === 'FileNotFoundError') {
    return new FathomError('not_found', `Not found in the sandbox: ${message}`, { ...options, hint: 'List the folder to see what is there.' });
  }
  if (name === 'NotFoundError' || status === 404) {
    return new FathomError('not_found', `E2B: ${message}`, { ...options, hint: `The sandbox may have expired. ${NEW_SANDBOX_HINT}` });
  }
  if (name === 'TimeoutError') {
    return new FathomError('timeout', `E2B did not answer in time: ${message}`, { ...options, hint: 'Retry; if it keeps happening, raise the time limit.' });
  }
  if (name === 'AbortError') return new FathomError('cancelled', 'The call was cancelled', options);
  if (name === 'InvalidArgumentError' || status === 400) return new FathomError('invalid_argument', `E2B: ${message}`, options);
  if (name === 'NotEnoughSpaceError' || status === 507) {
    return new FathomError('too_large', `The sandbox disk is full: ${message}`, { ...options, hint: 'Delete files in the sandbox, then retry.' });
  }
  if (name === 'TemplateError') {
    return new FathomError('invalid_config', `The E2B template does not fit this SDK: ${message}`, {
      ...options,
      hint: 'Rebuild the template with a current E2B version, or leave FATHOM_E2B_TEMPLATE unset.',
    });
  }
  return new FathomError('upstream', `E2B failed: ${message}`, options);
}

function fileErrorFrom(error: unknown, path: string): FathomError {
  if (error instanceof Error && error.name === 'FileNotFoundError') {
    return new FathomError('not_found', `${path} does not exist`, { cause: error, hint: 'List the folder to see what is there.' });
  }
  return errorFrom(error);
}

function tooLarge(path: string, size: number, maxBytes: number): FathomError {
  return new FathomError('too_large', `${path} is ${size} bytes, over the ${maxBytes}-byte limit`, {
    hint: 'Split or compress it inside the sandbox first.',
  });
}

function sandboxGone(message: string): boolean {
  return /sandbox timeout|sandbox was killed|end of life|not running anymore|sandbox \S+ not found/i.test(message);
}

const NETWORK_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

function isNetworkFailure(error: unknown): boolean {
  for (let link: unknown = error, depth = 0; link instanceof Error && depth < 5; link = link.cause, depth++) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (/fetch failed|getaddrinfo/i.test(link.message)) return true;
  }
  return false;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { statusCode, status } = error as { statusCode?: unknown; status?: unknown };
  if (typeof statusCode === 'number') return statusCode;
  return typeof status === 'number' ? status : undefined;
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[ -/]*[@-~]`, 'g');

function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

function inHiddenFolder(path: string): boolean {
  const rest = path.startsWith(WORKSPACE + '/') ? path.slice(WORKSPACE.length + 1) : path;
  return rest.split('/').slice(0, -1).some((part) => part.startsWith('.'));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function exitOf(handle: CommandHandle): Promise<CommandLike | 'timeout'> {
  try {
    return await handle.wait();
  } catch (error) {
    const result = commandResultOf(error);
    if (result) return result;
    if (error instanceof Error && error.name === 'TimeoutError' && !sandboxGone(error.message)) return 'timeout';
    throw error;
  }
}

function delay(ms: number): { done: Promise<'timeout'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return { done, cancel: () => clearTimeout(timer) };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new FathomError('cancelled', 'The call was cancelled');
}

/** Settles with `work`, or rejects with a cancelled FathomError as soon as `signal` aborts. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new FathomError('cancelled', 'The call was cancelled'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
