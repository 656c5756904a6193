import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FathomError, trackChild } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { StreamCapture } from './capture.js';
import { Cgroup } from './cgroup.js';
import { sandboxPath } from './paths.js';
import type { CapturedText, CellOutput, FileChange, PythonError, RunOptions, Sandbox, SandboxBackend, ShellOutput } from './types.js';
import { WORKSPACE } from './types.js';
import { HostWorkspace } from './workspace.js';

export interface BwrapLimits {
  memoryMb: number;
  maxProcesses: number;
  cpuSeconds: number;
  maxFileMb: number;
  maxOpenFiles: number;
  diskMb: number;
  tmpMb: number;
}

export interface BwrapOptions {
  python: string;
  /** Host folder under which each sandbox gets its workspace. */
  stateDir?: string;
  limits: BwrapLimits;
  /** Modules each new kernel imports before its first call. */
  preload: string[];
  logger: Logger;
}

const KERNEL_SOURCE = fileURLToPath(new URL('../../kernel/kernel.py', import.meta.url));
const KERNEL_INSIDE = '/opt/fathom/kernel.py';
const SANDBOX_UID = 1000;
const STARTUP_TIMEOUT_MS = 15_000;
const DISK_CHECK_MS = 500;

/** Host paths that make a Debian Python with numpy and matplotlib work, read-only. */
const SYSTEM_FILES = [
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/mime.types',
  '/etc/matplotlibrc',
  '/etc/fonts',
  '/etc/ssl',
];

/** The bubblewrap command line for one kernel; exported for `fathom doctor` and tests. */
export function bwrapArgs(options: { python: string; home: string; etc: string; limits: BwrapLimits; memoryCgroup: boolean; fontCache?: FontCache }): string[] {
  const { limits } = options;
  const rlimits = {
    cpu: limits.cpuSeconds,
    fsize: limits.maxFileMb * 1024 * 1024,
    nofile: limits.maxOpenFiles,
    core: 0,
    // Without a memory cgroup the address-space limit is the only memory bound.
    ...(options.memoryCgroup ? {} : { as: limits.memoryMb * 1024 * 1024 }),
  };
  const args = [
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--hostname', 'sandbox',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--ro-bind', '/usr', '/usr',
  ];
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    if (!existsSync(top)) continue;
    const stat = lstatSync(top);
    if (stat.isSymbolicLink()) args.push('--symlink', realpathSync(top).replace(/^\//, ''), top);
    else args.push('--ro-bind', top, top);
  }
  const pythonPrefix = dirname(dirname(realpathSync(options.python)));
  if (!pythonPrefix.startsWith('/usr')) args.push('--ro-bind', pythonPrefix, pythonPrefix);
  for (const path of SYSTEM_FILES) args.push('--ro-bind-try', path, path);
  args.push(
    '--ro-bind', join(options.etc, 'passwd'), '/etc/passwd',
    '--ro-bind', join(options.etc, 'group'), '/etc/group',
    '--ro-bind', KERNEL_SOURCE, KERNEL_INSIDE,
    '--proc', '/proc',
    '--dev', '/dev',
    '--size', String(options.limits.tmpMb * 1024 * 1024), '--tmpfs', '/tmp',
    '--dir', '/tmp/matplotlib',
    '--dir', '/tmp/cache',
    '--bind', options.home, WORKSPACE,
    // Font caches built once per server, so a session's first plot does not rebuild them.
    ...(options.fontCache
      ? ['--ro-bind', options.fontCache.fontlist, `/tmp/matplotlib/${basename(options.fontCache.fontlist)}`, '--ro-bind', options.fontCache.fontconfig, '/tmp/cache/fontconfig']
      : []),
    '--remount-ro', '/',
    '--chdir', WORKSPACE,
  );
  const env: Record<string, string> = {
    HOME: WORKSPACE,
    USER: 'user',
    LOGNAME: 'user',
    PATH: '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    MPLBACKEND: 'Agg',
    MPLCONFIGDIR: '/tmp/matplotlib',
    XDG_CACHE_HOME: '/tmp/cache',
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
    FATHOM_KERNEL_IN: '3',
    FATHOM_KERNEL_OUT: '4',
    FATHOM_RLIMITS: JSON.stringify(rlimits),
  };
  for (const [name, value] of Object.entries(env)) args.push('--setenv', name, value);
  args.push(options.python, '-B', '-s', KERNEL_INSIDE);
  return args;
}

export interface FontCache {
  /** matplotlib's fontlist-vNNN.json */
  fontlist: string;
  /** fontconfig's cache folder */
  fontconfig: string;
}

/**
 * Builds matplotlib's and fontconfig's font caches once, with the host's Python (importing
 * matplotlib runs no user code), so that sandboxes can mount them read-only. Undefined when
 * matplotlib is not installed.
 */
export async function buildFontCache(python: string, dir: string): Promise<FontCache | undefined> {
  try {
    mkdirSync(join(dir, 'cache'), { recursive: true });
  } catch {
    return undefined;
  }
  const built = await new Promise<boolean>((resolve) => {
    const child = spawn(python, ['-c', 'import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot'], {
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin', HOME: dir, MPLCONFIGDIR: dir, XDG_CACHE_HOME: join(dir, 'cache'), MPLBACKEND: 'Agg' },
    });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
  try {
    const fontlist = readdirSync(dir).find((name) => /^fontlist-v\d+\.json$/.test(name));
    const fontconfig = join(dir, 'cache', 'fontconfig');
    if (!built || !fontlist) return undefined;
    if (!existsSync(fontconfig)) mkdirSync(fontconfig);
    return { fontlist: join(dir, fontlist), fontconfig };
  } catch {
    // The backend closed (and removed its folder) while the caches were being built.
    return undefined;
  }
}

/** Why bubblewrap cannot run a sandbox here, or undefined when it can. */
export async function bwrapProblem(python: string): Promise<string | undefined> {
  if (!existsSync(python)) return `${python} not found (install python3, or set FATHOM_PYTHON)`;
  return new Promise((resolve) => {
    const child = spawn('bwrap', ['--unshare-all', '--unshare-user', '--die-with-parent', '--ro-bind', '/', '/', 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ENOENT' ? 'bwrap not found (install bubblewrap: apt-get install bubblewrap)' : error.message),
    );
    child.on('exit', (code) => resolve(code === 0 ? undefined : `bwrap cannot create namespaces here: ${stderr.trim() || `exit ${code}`}`));
  });
}

interface KernelAnswer {
  id?: number;
  failure?: string;
  [key: string]: unknown;
}

type Outcome = { kind: 'answer'; answer: KernelAnswer } | { kind: 'timeout' } | { kind: 'aborted' } | { kind: 'exit'; reason: string };

/** One Python kernel process inside bubblewrap, and the line protocol to it. */
class KernelProcess {
  readonly child: ChildProcess;
  readonly stdout = new StreamCapture();
  readonly stderr = new StreamCapture();
  readonly exited: Promise<string>;
  readonly ready: Promise<void>;
  private nextId = 1;
  private waiting = new Map<number, (answer: KernelAnswer) => void>();
  private exitReason: string | undefined;
  private started = false;

  constructor(command: string, args: string[], cgroup: Cgroup | undefined) {
    const join = cgroup ? cgroup.procsFiles.map((file) => `echo $$ > '${file}'`).join(' && ') + ' && ' : '';
    const script = `${join}exec "$0" "$@"`;
    this.child = spawn('/bin/sh', ['-c', script, command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    trackChild(this.child);
    // A kernel that dies mid-write breaks its pipes; its exit is what reports that, not these errors.
    for (const stream of this.child.stdio) (stream as NodeJS.EventEmitter | null)?.on('error', () => undefined);
    this.child.stdout!.on('data', (chunk: Buffer) => this.stdout.push(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    const answers = this.child.stdio[4] as NodeJS.ReadableStream;
    const lines = createInterface({ input: answers, crlfDelay: Infinity });
    let onReady: () => void = () => {};
    let onFail: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    lines.on('line', (line) => {
      let answer: KernelAnswer;
      try {
        answer = JSON.parse(line) as KernelAnswer;
      } catch {
        return;
      }
      if (answer.ready) {
        this.started = true;
        return onReady();
      }
      const waiter = typeof answer.id === 'number' ? this.waiting.get(answer.id) : undefined;
      if (waiter) {
        this.waiting.delete(answer.id!);
        waiter(answer);
      }
    });
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

  get alive(): boolean {
    return this.exitReason === undefined;
  }

  /** Sends one request and waits for its answer and the end of its output, the limit, an abort or the kernel's death. */
  async call(request: Record<string, unknown>, timeoutMs: number, keepBytes: number, signal?: AbortSignal): Promise<Outcome> {
    const id = this.nextId++;
    const end = `__fathom_end_${randomBytes(12).toString('hex')}__`;
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
    const stdin = this.child.stdio[3] as NodeJS.WritableStream;
    stdin.write(JSON.stringify({ ...request, id, end }) + '\n');
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

export class BwrapBackend implements SandboxBackend {
  readonly name = 'bwrap' as const;
  private readonly stateDir: string;
  private readonly etcDir: string;
  private readonly sandboxes = new Set<BwrapSandbox>();
  private readonly cgroups: 'v1' | 'v2' | undefined;
  /** Set once built: sandboxes started before that build their own. */
  private fontCache: FontCache | undefined;

  constructor(private readonly options: BwrapOptions) {
    this.stateDir = options.stateDir ?? join(tmpdir(), 'fathom-sandbox');
    sweepDeadStates(this.stateDir);
    const own = join(this.stateDir, `${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(own, { recursive: true, mode: 0o700 });
    this.stateDir = own;
    this.etcDir = join(own, 'etc');
    mkdirSync(this.etcDir);
    writeFileSync(join(this.etcDir, 'passwd'), `root:x:0:0:root:/root:/bin/bash\nuser:x:${SANDBOX_UID}:${SANDBOX_UID}:user:${WORKSPACE}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
    writeFileSync(join(this.etcDir, 'group'), `root:x:0:\nuser:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`);
    Cgroup.sweep();
    this.cgroups = Cgroup.support();
    void buildFontCache(options.python, join(own, 'fonts'))
      .then((cache) => (this.fontCache = cache))
      .catch(() => undefined);
  }

  describe(): string {
    const memory = this.cgroups ? `cgroup ${this.cgroups} memory and process limits` : 'no writable cgroups: address-space limit only, no process-count limit';
    return `bubblewrap: every namespace unshared, no network, read-only system, own /home/user and /tmp; ${memory}; per-process CPU time, file size and open-file limits`;
  }

  get limitsSource(): string {
    return this.cgroups ? `cgroup ${this.cgroups}` : 'rlimits';
  }

  async create(): Promise<Sandbox> {
    const id = `sbx_${randomBytes(10).toString('hex')}`;
    const dir = join(this.stateDir, id);
    mkdirSync(join(dir, 'home'), { recursive: true });
    const { limits } = this.options;
    const cgroup = this.cgroups ? Cgroup.create(`${process.pid}-${id}`, { memoryBytes: limits.memoryMb * 1024 * 1024, maxProcesses: limits.maxProcesses }) : undefined;
    const sandbox = new BwrapSandbox(id, dir, cgroup, this.options, this.etcDir, () => this.fontCache);
    try {
      await sandbox.start();
    } catch (error) {
      await sandbox.close();
      throw error instanceof FathomError
        ? error
        : new FathomError('unavailable', `The Python sandbox did not start: ${(error as Error).message}`, {
            hint: 'Run `fathom doctor` to check bubblewrap and Python.',
          });
    }
    this.sandboxes.add(sandbox);
    sandbox.onClose = () => this.sandboxes.delete(sandbox);
    return sandbox;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sandboxes].map((sandbox) => sandbox.close()));
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Removes workspaces left by servers that are gone (their folder names start with the pid). */
/** bwrap passes its child's death by a signal on as exit code 128 + the signal's number. */
function exitReason(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  const name = code !== null && code > 128 ? Object.entries(constants.signals).find(([, number]) => number === code - 128)?.[0] : undefined;
  return name ? `was killed by ${name}` : `exited with code ${code}`;
}

function sweepDeadStates(root: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    const pid = Number(name.split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }
}

class BwrapSandbox implements Sandbox {
  readonly backend = 'bwrap' as const;
  onClose: (() => void) | undefined;
  private kernel: KernelProcess | undefined;
  private readonly workspace: HostWorkspace;
  private closed = false;
  /** Set when the kernel died between calls (e.g. killed by a background process): told on the next call. */
  private lostBetweenCalls: string | undefined;
  private inCall = false;

  constructor(
    readonly id: string,
    private readonly dir: string,
    private readonly cgroup: Cgroup | undefined,
    private readonly options: BwrapOptions,
    private readonly etcDir: string,
    private readonly fontCache: () => FontCache | undefined,
  ) {
    this.workspace = new HostWorkspace(join(dir, 'home'));
  }

  async start(): Promise<void> {
    const args = bwrapArgs({
      python: this.options.python,
      home: this.workspace.dir,
      etc: this.etcDir,
      limits: this.options.limits,
      memoryCgroup: this.cgroup !== undefined,
      ...(this.fontCache() ? { fontCache: this.fontCache()! } : {}),
    });
    const kernel = new KernelProcess('bwrap', args, this.cgroup);
    this.kernel = kernel;
    void kernel.exited.then((reason) => {
      if (this.kernel === kernel && !this.closed && !this.inCall) this.lostBetweenCalls = `The Python kernel ${reason} after the previous call`;
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      kernel.ready,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (this.options.preload.length) {
      const code = this.options.preload.map((name) => `import ${name}`).join('\n');
      await kernel.call({ op: 'run', code, track_files: false }, STARTUP_TIMEOUT_MS, 1 << 16);
      kernel.stdout.take();
      kernel.stderr.take();
    }
  }

  private async live(): Promise<KernelProcess> {
    if (this.closed) throw new FathomError('not_found', 'This sandbox is closed', { hint: 'Create a new one.' });
    if (!this.kernel?.alive) await this.restart();
    return this.kernel!;
  }

  private async restart(): Promise<void> {
    const old = this.kernel;
    this.kernel = undefined;
    old?.kill();
    this.cgroup?.killAll();
    if (old) await old.exited;
    await this.start();
  }

  /** Runs a request, turning a time limit, an abort or a death into a restarted kernel and a sentence. */
  private async request(
    payload: Record<string, unknown>,
    options: RunOptions,
  ): Promise<{ answer?: KernelAnswer; stdout: CapturedText; stderr: CapturedText; timedOut: boolean; restarted?: string; notice?: string }> {
    const kernel = await this.live();
    const earlier = this.lostBetweenCalls;
    this.lostBetweenCalls = undefined;
    const oomBefore = this.cgroup?.oomKills() ?? 0;
    const disk = this.watchDisk(kernel);
    this.inCall = true;
    const outcome = await kernel.call(payload, options.timeoutMs, options.keepBytes, options.signal).finally(() => (this.inCall = false));
    disk.stop();
    const stdout = kernel.stdout.take();
    const stderr = kernel.stderr.take();
    if (outcome.kind === 'answer') {
      if (outcome.answer.failure) throw new FathomError('internal', `The sandbox could not do that: ${outcome.answer.failure}`);
      return { answer: outcome.answer, stdout, stderr, timedOut: false, ...(earlier ? { notice: `${earlier}; variables and imports were lost before this run.` } : {}) };
    }
    kernel.kill();
    const seconds = Math.round(options.timeoutMs / 100) / 10;
    let what: string;
    if (disk.exceeded) what = `The workspace went over its ${this.options.limits.diskMb} MB quota, so the run was stopped`;
    else if (outcome.kind === 'timeout') what = `The run exceeded its ${seconds} s time limit and was stopped`;
    else if (outcome.kind === 'aborted') what = 'The run was cancelled';
    else if ((this.cgroup?.oomKills() ?? 0) > oomBefore) what = `The run used more than the sandbox's ${this.options.limits.memoryMb} MB of memory and was killed`;
    else what = `The Python kernel ${outcome.reason} during the run`;
    await this.restart();
    return {
      stdout,
      stderr,
      timedOut: outcome.kind === 'timeout',
      restarted: `${what}. A fresh kernel was started: variables and imports are gone; files in ${WORKSPACE} are kept.`,
    };
  }

  /** Polls the workspace size during a call and stops the kernel when it passes the quota. */
  private watchDisk(kernel: KernelProcess): { stop(): void; exceeded: boolean } {
    const quota = this.options.limits.diskMb * 1024 * 1024;
    const state = { exceeded: false, stop: () => clearInterval(timer) };
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.workspace
        .usage(quota)
        .then((used) => {
          if (used > quota) {
            state.exceeded = true;
            kernel.kill();
          }
        })
        .finally(() => (busy = false));
    }, DISK_CHECK_MS);
    timer.unref();
    return state;
  }

  async runPython(code: string, options: RunOptions): Promise<CellOutput> {
    const { answer, stdout, stderr, timedOut, restarted, notice } = await this.request({ op: 'run', code }, options);
    return {
      stdout,
      stderr,
      ...(typeof answer?.value === 'string' ? { value: answer.value } : {}),
      ...(answer?.error ? { error: answer.error as PythonError } : {}),
      figures: (answer?.figures as string[] | undefined) ?? [],
      figureTexts: (answer?.figure_texts as string[] | undefined) ?? [],
      files: (answer?.files as FileChange[] | undefined) ?? [],
      timedOut,
      ...(restarted ? { restarted } : {}),
      ...(notice ? { notice } : {}),
    };
  }

  async runShell(command: string, options: RunOptions): Promise<ShellOutput> {
    // The kernel enforces the command's own limit; the outer one only catches a stuck kernel.
    const inner = Math.max(1, options.timeoutMs / 1000);
    const { answer, stdout, stderr, timedOut, restarted } = await this.request(
      { op: 'shell', command, timeout: inner, keep: options.keepBytes },
      { ...options, timeoutMs: options.timeoutMs + 5000 },
    );
    const printed = (name: 'stdout' | 'stderr', fallback: typeof stdout) =>
      answer ? { text: String(answer[name] ?? ''), bytes: Number(answer[`${name}_bytes`] ?? 0) } : fallback;
    const out = printed('stdout', stdout);
    const err = printed('stderr', stderr);
    // Output of the kernel's own background processes arrives on its streams: keep it visible.
    if (stdout.text) out.text = stdout.text + out.text;
    if (stderr.text) err.text = stderr.text + err.text;
    return {
      exitCode: answer ? Number(answer.exit_code ?? -1) : -1,
      stdout: out,
      stderr: err,
      timedOut: timedOut || answer?.timed_out === true,
      ...(restarted ? { restarted } : {}),
    };
  }

  async writeFile(path: string, data: Uint8Array): Promise<string> {
    const target = sandboxPath(path);
    this.workspace.hostPath(target);
    const staged = await this.workspace.stage(data);
    const kernel = await this.live();
    const outcome = await kernel.call({ op: 'move', source: staged, target }, 30_000, 1 << 16);
    kernel.stdout.take();
    kernel.stderr.take();
    if (outcome.kind !== 'answer' || outcome.answer.failure) {
      await rm(this.workspace.hostPath(staged), { force: true });
      const why = outcome.kind === 'answer' ? String(outcome.answer.failure) : outcome.kind;
      throw new FathomError('invalid_argument', `Could not write ${target}: ${why}`, { hint: `Give a file path under ${WORKSPACE}.` });
    }
    return String(outcome.answer.path);
  }

  readFile(path: string, maxBytes: number): Promise<Uint8Array> {
    this.assertOpen();
    return this.workspace.read(sandboxPath(path), maxBytes);
  }

  listFiles(path: string, recursive: boolean) {
    this.assertOpen();
    return this.workspace.list(sandboxPath(path), recursive);
  }

  private assertOpen(): void {
    if (this.closed) throw new FathomError('not_found', 'This sandbox is closed', { hint: 'Create a new one.' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const kernel = this.kernel;
    this.kernel = undefined;
    kernel?.kill();
    if (kernel) await kernel.exited;
    await this.cgroup?.remove();
    rmSync(this.dir, { recursive: true, force: true });
    this.onClose?.();
  }
}
