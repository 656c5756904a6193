import { pyStr } from '@fathom/core';
import type { CapturedText, CellOutput, FileChange, ShellOutput } from './backends/types.js';
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
  let error = cell.error;
  if (!error && cell.restarted) {
    error = { name: cell.timedOut ? 'TimeoutError' : 'KernelDiedError', value: cell.restarted, traceback: '' };
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

