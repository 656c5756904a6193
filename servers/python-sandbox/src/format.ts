import { FathomError, pyStr } from '@fathom/core';
import type { CapturedText, CellOutput, FileChange, KernelOutcome, KernelStop, PythonError, ShellOutput } from './backends/types.js';
import { WORKSPACE } from './backends/types.js';

/** Bytes of each stream kept in memory per call; what is shown is cut much earlier. */
export const KEEP_BYTES = 8 * 1024 * 1024;

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The head and the tail of a long text, with the middle left out and said so. */
export function headAndTail(text: string, maxChars: number): { text: string; cut: boolean } {
  if (text.length <= maxChars) return { text, cut: false };
  const head = Math.floor(maxChars * 0.6);
  const tail = maxChars - head;
  const omitted = text.length - head - tail;
  return { text: `${text.slice(0, head)}\n... [${omitted.toLocaleString('en-US')} characters omitted] ...\n${text.slice(-tail)}`, cut: true };
}

export function describeChanges(files: FileChange[]): string {
  return files.map((file) => (file.change === 'deleted' ? `deleted ${file.path}` : `${file.change} ${file.path} (${formatBytes(file.size)})`)).join('\n');
}

/** The line after a traceback of code that tried the network, naming the tool that fetches instead. */
export function noNetworkNote(downloadTool: string): string {
  return `The sandbox has no network access: fetch the file with ${downloadTool} instead, then read it from ${WORKSPACE}.`;
}

// ---- What a stopped run or a lost interpreter left, in words: the one place backends' outcomes are worded ----

export function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** What stopped it: "The run exceeded its 2 s time limit and was stopped". `previous` words it for the call after. */
function whatStopped({ stop, kernel, ignoredInterrupt }: KernelOutcome, previous: boolean): string {
  const run = previous ? 'The previous run' : 'The run';
  const ignored = ignoredInterrupt ? ' and did not stop when interrupted' : '';
  switch (stop.cause) {
    case 'time_limit':
      return `${run} exceeded its ${formatSeconds(stop.limitMs)} time limit${ignored || (kernel === 'unknown' ? '' : kernel === 'kept' ? ' and was interrupted' : ' and was stopped')}`;
    case 'cancelled':
      return `${run} was cancelled${ignored || (kernel === 'kept' ? ' and interrupted' : '')}`;
    case 'memory':
      return `${run} used more than the sandbox's ${stop.limitMb} MB of memory and was killed`;
    case 'disk_quota':
      return `The workspace went over its ${stop.limitMb} MB quota, so ${previous ? 'the previous run' : 'the run'} was stopped`;
    case 'channel_overflow':
      return `The kernel's answer grew past ${stop.limitMb} MB without ending (something in the sandbox wrote to the kernel's own channel), so it was stopped`;
    case 'died':
      return `The Python kernel ${stop.how} ${previous ? 'after the previous call' : 'during the run'}`;
    case 'unresponsive':
      return `The Python kernel stopped answering ${previous ? 'after the previous call' : 'during the run'}`;
  }
}

const KEPT = 'The Python kernel is still alive: variables and imports from earlier cells are kept.';

/** What a run stopped during this call left, when its kernel did not survive (restarted or unknown). */
export function describeStop(outcome: KernelOutcome): string {
  const what = whatStopped(outcome, false);
  switch (outcome.kernel) {
    case 'kept':
      return `${what}: the rest of the cell did not run. ${KEPT}`;
    case 'restarted':
      return outcome.files === 'kept'
        ? `${what}. A fresh kernel was started: variables and imports are gone; files in ${WORKSPACE} are kept.`
        : `${what}. A fresh kernel was started: variables and imports are gone, and so are the files in ${WORKSPACE}.`;
    case 'unknown':
      return `${what}. The sandbox could not confirm that the run stopped, and restarting the kernel failed: it may still be running and the variables may be lost; if the next call hangs, close this sandbox and create a new one.`;
  }
}

/** What the interpreter going away since the previous call means for this one. */
export function describeBefore(outcome: KernelOutcome): string {
  const what = whatStopped(outcome, true);
  switch (outcome.kernel) {
    case 'kept':
      return `${what}. ${KEPT}`;
    case 'restarted':
      return outcome.files === 'kept'
        ? `${what}; variables and imports were lost before this run.`
        : `${what}; variables and imports were lost before this run, and so were the files in ${WORKSPACE}.`;
    case 'unknown':
      return `${what}, and the sandbox could not confirm that it stopped: if this call hangs, close this sandbox and create a new one.`;
  }
}

const STOP_ERROR_NAMES: Partial<Record<KernelStop['cause'], string>> = { time_limit: 'TimeoutError', cancelled: 'CancelledError' };

/** The error a cell stopped with a living kernel shows: its KeyboardInterrupt, renamed for what stopped it. */
function stopError(error: PythonError | undefined, outcome: KernelOutcome): PythonError | undefined {
  if (error && error.name !== 'KeyboardInterrupt') return error;
  const name = STOP_ERROR_NAMES[outcome.stop.cause] ?? 'KernelError';
  const value = describeStop(outcome);
  if (!error) return { name, value, traceback: '' };
  const cut = error.traceback.lastIndexOf(error.name);
  return { name, value, traceback: (cut === -1 ? error.traceback : error.traceback.slice(0, cut)) + `${name}: ${value}\n` };
}

/** A cell's outcome as the model reads it: its error, what a restart took, what was lost before it. */
export interface CellReport {
  error?: PythonError;
  /** Set when the interpreter did not survive the run. */
  restarted?: string;
  /** Set when it had gone before the run. */
  notice?: string;
}

export function cellReport(cell: CellOutput): CellReport {
  const stopped = cell.stopped;
  const error = stopped?.kernel === 'kept' ? stopError(cell.error, stopped) : cell.error;
  return {
    ...(error ? { error } : {}),
    ...(stopped && stopped.kernel !== 'kept' ? { restarted: describeStop(stopped) } : {}),
    ...(cell.before ? { notice: describeBefore(cell.before) } : {}),
  };
}

export function shellReport(shell: ShellOutput): Omit<CellReport, 'error'> {
  return {
    ...(shell.stopped ? { restarted: describeStop(shell.stopped) } : {}),
    ...(shell.before ? { notice: describeBefore(shell.before) } : {}),
  };
}

/** A file operation that cost the sandbox its kernel. */
export function kernelLostError(path: string, outcome: KernelOutcome): FathomError {
  const { stop } = outcome;
  const why =
    stop.cause === 'channel_overflow'
      ? 'its answer channel overflowed'
      : stop.cause === 'died'
        ? `its kernel ${stop.how}`
        : stop.cause === 'unresponsive'
          ? 'it did not answer'
          : whatStopped(outcome, false).replace(/^The /, 'the ');
  const restart =
    outcome.kernel === 'unknown'
      ? ' Its kernel may still be busy.'
      : outcome.kernel === 'kept'
        ? ''
        : outcome.files === 'kept'
          ? ' Its kernel was restarted (variables are gone, files are kept).'
          : ` Its kernel was restarted (variables are gone, and so are the files in ${WORKSPACE}).`;
  return new FathomError('unavailable', `The sandbox could not handle ${path}: ${why}.${restart}`, { hint: 'Try again.' });
}

/** A cancelled call whose run may go on for up to `graceMs` before its kernel is restarted. */
export function cancelledRunError(graceMs: number): FathomError {
  return new FathomError('cancelled', 'The cell was cancelled', {
    hint: `It may run on for a moment; if it has not finished within ${formatSeconds(graceMs)}, the Python kernel is restarted (its variables are lost) before the next cell runs, and that cell says so.`,
  });
}

// ---- MiroThinker profile: the strings E2B's Python SDK prints, which the model was trained on ----

export const MIROTHINKER_MAX_RESULT = 20_000;
export const MIROTHINKER_MAX_ERROR = 4_000;

export function truncateResult(result: string): string {
  return result.length > MIROTHINKER_MAX_RESULT ? result.slice(0, MIROTHINKER_MAX_RESULT) + ' [Result truncated due to length limit]' : result;
}

/**
 * A stream cut into the messages a Jupyter kernel sent for it (E2B lists one element per message),
 * from the lengths the backend recorded. Text those lengths do not account for (printed by a child
 * process past sys.stdout, or by background processes before the cell) leaves it as one message.
 */
function messages(captured: CapturedText): string[] {
  if (!captured.text) return [];
  const points = [...captured.text];
  const lengths = captured.chunks ?? [];
  const total = lengths.reduce((sum, length) => sum + length, 0);
  const cut = captured.bytes > Buffer.byteLength(captured.text);
  if (total !== points.length && !(cut && total > points.length)) return [captured.text];
  const parts: string[] = [];
  let at = 0;
  for (const length of lengths) {
    if (at >= points.length) break;
    parts.push(points.slice(at, at + length).join(''));
    at += length;
  }
  return parts;
}

/** `Execution(Results: [...], Logs: Logs(stdout: [...], stderr: [...]), Error: ...)` as E2B's SDK prints it. */
export function executionRepr(cell: CellOutput): string {
  const results: string[] = [];
  if (cell.value !== undefined) results.push(`Result(${cell.value})`);
  cell.figures.forEach((_, index) => results.push(`Result(${cell.figureTexts?.[index] ?? '<Figure>'})`));
  const stdout = `[${messages(cell.stdout).map(pyStr).join(', ')}]`;
  const stderr = `[${messages(cell.stderr).map(pyStr).join(', ')}]`;
  const report = cellReport(cell);
  let error = report.error;
  if (!error && report.restarted) {
    error = { name: cell.timedOut ? 'TimeoutError' : 'KernelDiedError', value: report.restarted, traceback: '' };
  }
  const errorText = error ? `ExecutionError(name=${pyStr(error.name)}, value=${pyStr(error.value)}, traceback=${pyStr(error.traceback)})` : 'None';
  return `Execution(Results: [${results.join(', ')}], Logs: Logs(stdout: ${stdout}, stderr: ${stderr}), Error: ${errorText})`;
}

export function commandResultRepr(shell: ShellOutput): string {
  return `CommandResult(stderr=${pyStr(shell.stderr.text)}, stdout=${pyStr(shell.stdout.text)}, exit_code=${shell.exitCode}, error='')`;
}

/** The text MiroThinker's server returned when E2B's `commands.run` raised (a non-zero exit or a time limit). */
export function commandFailure(exception: string, details: string): string {
  return `[ERROR]: Failed to run command after 3 attempts.\n\nException type: ${exception}\nDetails: ${details.slice(0, MIROTHINKER_MAX_ERROR)}`;
}

/** shlex.quote: how MiroThinker's download tool printed the path. */
export function shlexQuote(text: string): string {
  if (text === '') return "''";
  if (/^[\w@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'"'"'`)}'`;
}

