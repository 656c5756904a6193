/** What every sandbox backend (bwrap, pyodide, e2b) offers: one interface, so tools never care which runs. */

export type BackendName = 'bwrap' | 'pyodide' | 'e2b';

/** The folder a sandbox's code sees as home and where file tools read and write. */
export const WORKSPACE = '/home/user';

export interface PythonError {
  name: string;
  value: string;
  traceback: string;
}

export interface FileChange {
  /** Absolute path inside the sandbox, e.g. /home/user/out.csv */
  path: string;
  change: 'created' | 'modified' | 'deleted';
  size: number;
}

/** What stopped a run or ended an interpreter. */
export type KernelStop =
  | { cause: 'time_limit'; limitMs: number }
  | { cause: 'cancelled' }
  | { cause: 'memory'; limitMb: number }
  | { cause: 'disk_quota'; limitMb: number }
  /** Something in the sandbox wrote to the kernel's own answer channel without end. */
  | { cause: 'channel_overflow'; limitMb: number }
  /** `how` completes "The Python kernel …": "was killed by SIGKILL", "exited with code 1". */
  | { cause: 'died'; how: string }
  | { cause: 'unresponsive' };

/**
 * What a stopped run or a lost interpreter left: backends report it, format.ts words it for the
 * model, so every backend tells the same thing the same way.
 */
export interface KernelOutcome {
  /** kept: the interpreter runs on with its variables; restarted: a fresh one took its place; unknown: the backend could not tell (the old run may go on). */
  kernel: 'kept' | 'restarted' | 'unknown';
  /** Whether the files in the workspace outlived it. */
  files: 'kept' | 'lost';
  stop: KernelStop;
  /** The run was interrupted first and did not stop. */
  ignoredInterrupt?: boolean;
}

export interface CapturedText {
  /** What was kept (at most RunOptions.keepBytes, decoded as UTF-8). */
  text: string;
  /** Bytes the code wrote in all, kept or not. */
  bytes: number;
  /**
   * For a cell's output, when known: the length in characters (code points) of each stream
   * message a Jupyter kernel would have sent, in order (see ChunkedStream in kernel/kernel.py).
   */
  chunks?: number[];
}

export interface CellOutput {
  stdout: CapturedText;
  stderr: CapturedText;
  /** repr() of the cell's last expression, when it was one and not None. */
  value?: string;
  error?: PythonError;
  /** Open matplotlib figures at the end of the cell, as base64 PNG. */
  figures: string[];
  /** repr() of each figure, e.g. "<Figure size 640x480 with 1 Axes>", when the backend knows it. */
  figureTexts?: string[];
  files: FileChange[];
  timedOut: boolean;
  /**
   * Set when the run was stopped, or the interpreter died, during the call: what stopped it and
   * what it left. With `kernel: 'kept'` the cell's error, if any, is the KeyboardInterrupt that
   * stopped it.
   */
  stopped?: KernelOutcome;
  /** Set when the interpreter had gone since the previous call, so this run started from a fresh state. */
  before?: KernelOutcome;
  /** Set when the cell's error is a failed connection or name lookup: the sandbox has no network. */
  networkFailure?: boolean;
}

export interface ShellOutput {
  exitCode: number;
  stdout: CapturedText;
  stderr: CapturedText;
  timedOut: boolean;
  stopped?: KernelOutcome;
  before?: KernelOutcome;
}

export interface FileEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  /** ISO 8601 */
  modified: string;
}

export interface FileListing {
  entries: FileEntry[];
  /** Entries found but not listed, past the listing's cap. */
  omitted: number;
  /** Set when the folder was too large to walk to the end, so `omitted` is a lower bound. */
  incomplete?: boolean;
}

export interface RunOptions {
  timeoutMs: number;
  /** Most bytes of stdout (and of stderr) kept in memory; the rest is counted and dropped. */
  keepBytes: number;
  signal?: AbortSignal;
}

/**
 * One sandbox. Its workspace files outlive a restart of its interpreter unless the restart's
 * outcome says `files: 'lost'`.
 */
export interface Sandbox {
  readonly id: string;
  readonly backend: BackendName;
  runPython(code: string, options: RunOptions): Promise<CellOutput>;
  runShell(command: string, options: RunOptions): Promise<ShellOutput>;
  /** Writes a file (parents created); `path` is absolute in the sandbox. Returns the path written. */
  writeFile(path: string, data: Uint8Array): Promise<string>;
  /** Reads a regular file; fails with too_large beyond maxBytes. */
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
  listFiles(path: string, recursive: boolean): Promise<FileListing>;
  close(): Promise<void>;
}

export interface SandboxBackend {
  readonly name: BackendName;
  /** One line for `fathom doctor` and the logs: what isolates sessions and which limits apply. */
  describe(): string;
  create(): Promise<Sandbox>;
  close(): Promise<void>;
}
