import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { release as osRelease, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asUser, FathomError, findProgram } from '@fathom/core';
import type { ErrorCode, Logger } from '@fathom/core';
import { Cgroup } from './cgroup.js';
import { FIRST_INPUT_FD, KernelProcess, MAX_ANSWER_BYTES } from './kernel-process.js';
import type { KernelAnswer } from './kernel-process.js';
import { sandboxPath } from './paths.js';
import { refusedSyscalls, seccompFilter } from './seccomp.js';
import { kernelLostError } from '../format.js';
import type { CapturedText, CellOutput, FileChange, FileListing, KernelOutcome, KernelStop, PythonError, RunOptions, Sandbox, SandboxBackend, ShellOutput } from './types.js';
import { WORKSPACE } from './types.js';
import { createVolume, unmountUnder, volumeSupport } from './volume.js';
import type { Identity, Volume, VolumeKind } from './volume.js';
import { HostWorkspace } from './workspace.js';

export interface BwrapLimits {
  memoryMb: number;
  maxProcesses: number;
  cpuSeconds: number;
  maxFileMb: number;
  maxOpenFiles: number;
  diskMb: number;
  tmpMb: number;
  /** CPUs a sandbox's processes may use together during a call. */
  cpus: number;
  /** CPUs they may use together between calls (background processes). */
  idleCpus: number;
}

export interface BwrapOptions {
  python: string;
  /** Host folder under which each sandbox gets its workspace. */
  stateDir?: string;
  limits: BwrapLimits;
  /** Modules each new kernel imports before its first call. */
  preload: string[];
  /** When the server runs as root, sandboxes run as host uids firstUid .. firstUid + 65535. */
  firstUid: number;
  logger: Logger;
}

/** What every kernel start passes to bwrap, read and built once. */
const KERNEL_BYTES = readFileSync(fileURLToPath(new URL('../../kernel/kernel.py', import.meta.url)));
const SECCOMP_FILTER = seccompFilter();
const KERNEL_INSIDE = '/opt/fathom/kernel.py';
const SANDBOX_UID = 1000;
const STARTUP_TIMEOUT_MS = 15_000;
const FILE_OP_TIMEOUT_MS = 30_000;
const DISK_CHECK_MS = 500;
const MAX_LISTED = 5000;
const SHM_MB = 64;

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

const PASSWD = `root:x:0:0:root:/root:/bin/bash\nuser:x:${SANDBOX_UID}:${SANDBOX_UID}:user:${WORKSPACE}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`;
const GROUP = `root:x:0:\nuser:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`;

export interface BwrapCommandOptions {
  python: string;
  /** The host folder bound as the workspace. */
  workspace: string;
  limits: BwrapLimits;
  memoryCgroup: boolean;
  /** Whether the sandbox runs as a host uid of its own. */
  ownUid: boolean;
  /** matplotlib's font list, built once per server. */
  fontlist?: { name: string; data: Buffer };
}

/**
 * The bubblewrap options for one kernel, the command it runs, and the bytes it reads from file
 * descriptors: the options themselves (fd 5, so no host path shows in any command line), then the
 * files it mounts (the kernel, /etc/passwd, the font list) and the seccomp filter.
 */
export function bwrapCommand(options: BwrapCommandOptions): { args: string[]; command: string[]; inputs: Buffer[] } {
  const { limits } = options;
  const data: Buffer[] = [];
  const fd = (bytes: Buffer) => String(FIRST_INPUT_FD + data.push(bytes));
  const rlimits = {
    cpu: limits.cpuSeconds,
    fsize: limits.maxFileMb * 1024 * 1024,
    nofile: limits.maxOpenFiles,
    core: 0,
    // Without a memory cgroup the address-space limit is the only memory bound.
    ...(options.memoryCgroup ? {} : { as: limits.memoryMb * 1024 * 1024 }),
    // The per-user process limit is a per-sandbox one where the sandbox has a host uid of its own,
    // or where the kernel counts processes per user namespace (Linux 5.14 and later).
    ...(options.ownUid || countsProcessesPerNamespace() ? { nproc: limits.maxProcesses } : {}),
  };
  const filter = SECCOMP_FILTER;
  const args = [
    '--unshare-all',
    '--unshare-user',
    // The seccomp filter refuses new namespaces; without one, bwrap's own switch does.
    ...(filter ? [] : ['--disable-userns']),
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--hostname', 'sandbox',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--cap-drop', 'ALL',
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
    '--ro-bind-data', fd(Buffer.from(PASSWD)), '/etc/passwd',
    '--ro-bind-data', fd(Buffer.from(GROUP)), '/etc/group',
    '--ro-bind-data', fd(KERNEL_BYTES), KERNEL_INSIDE,
    '--proc', '/proc',
    '--remount-ro', '/proc',
    '--dev', '/dev',
    '--size', String(Math.min(SHM_MB, limits.tmpMb) * 1024 * 1024), '--tmpfs', '/dev/shm',
    '--remount-ro', '/dev',
    '--size', String(limits.tmpMb * 1024 * 1024), '--tmpfs', '/tmp',
    '--dir', '/tmp/matplotlib',
    '--dir', '/tmp/cache',
    '--bind', options.workspace, WORKSPACE,
  );
  // Font caches built once per server, so a session's first plot does not rebuild them.
  if (options.fontlist) args.push('--ro-bind-data', fd(options.fontlist.data), `/tmp/matplotlib/${options.fontlist.name}`);
  args.push('--remount-ro', '/', '--chdir', WORKSPACE);
  if (filter) args.push('--seccomp', fd(filter));
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
  return { args, command: [options.python, '-B', '-s', KERNEL_INSIDE], inputs: [Buffer.from(args.join('\0') + '\0'), ...data] };
}

function countsProcessesPerNamespace(release = osRelease()): boolean {
  const [major = 0, minor = 0] = release.split('.').map((part) => Number.parseInt(part, 10));
  return major > 5 || (major === 5 && minor >= 14);
}

/** How bwrap is started: as the sandbox's own unprivileged host user when the server is root. */
function launcher(bwrap: string, identity: Identity | undefined, command: string[]): string[] {
  return [...(identity ? asUser(identity.uid, identity.gid) : []), bwrap, '--args', String(FIRST_INPUT_FD), '--', ...command];
}

/** A fresh unprivileged host identity for a sandbox when the server is root; undefined otherwise (the server's own). */
function identityFor(firstUid: number): Identity | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = firstUid + randomInt(65536);
  return { uid: id, gid: id };
}

/**
 * Builds matplotlib's font list once, with the host's Python (importing matplotlib runs no user
 * code), so that sandboxes can mount it read-only. Undefined when matplotlib is not installed.
 */
export async function buildFontList(python: string, dir: string): Promise<{ name: string; data: Buffer } | undefined> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
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
    const name = readdirSync(dir).find((entry) => /^fontlist-v\d+\.json$/.test(entry));
    return built && name ? { name, data: readFileSync(join(dir, name)) } : undefined;
  } catch {
    // The backend closed (and removed its folder) while the list was being built.
    return undefined;
  }
}

/** Why bubblewrap cannot run a sandbox here, or undefined when it can. Tried as the sandboxes run: unprivileged. */
export async function bwrapProblem(python: string, firstUid = 2_000_000_000): Promise<string | undefined> {
  if (!existsSync(python)) return `${python} not found (install python3, or set FATHOM_PYTHON)`;
  const bwrap = findProgram('bwrap');
  if (!bwrap) return 'bwrap not found (install bubblewrap: apt-get install bubblewrap)';
  const identity = identityFor(firstUid);
  let drop: string[];
  try {
    drop = identity ? asUser(identity.uid, identity.gid) : [];
  } catch (error) {
    return (error as Error).message;
  }
  const argv = [...drop, bwrap, '--unshare-all', '--unshare-user', '--die-with-parent', '--ro-bind', '/', '/', '/bin/true'];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => resolve(error.message));
    child.on('exit', (code) =>
      resolve(code === 0 ? undefined : `bwrap cannot create namespaces${identity ? ' as an unprivileged user' : ''} here: ${stderr.trim() || `exit ${code}`}`),
    );
  });
}

/** The state folder must be the server's own: not a link, not writable by others. */
function ownFolder(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o711 });
  const stat = lstatSync(path);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o022) !== 0) {
    throw new FathomError('invalid_config', `The sandbox state folder ${path} is not a private folder of this user`, {
      hint: 'Remove it, or set --state-dir to a folder only this user can write.',
    });
  }
  // The sandboxes of a root server run as other users, who pass through here (an older server made it private).
  if (uid === 0 && (stat.mode & 0o001) === 0) chmodSync(path, (stat.mode & 0o777) | 0o011);
}

/** Whether users other than the server's can pass through `path` and its parents. */
function passable(path: string): boolean {
  for (let folder = path; ; folder = dirname(folder)) {
    if ((statSync(folder).mode & 0o001) === 0) return false;
    if (folder === dirname(folder)) return true;
  }
}

/**
 * Where a server's workspaces are bound from. A root server's sandboxes run as other users, who
 * must pass through every parent of their workspace: under a private state folder (say in /root)
 * the workspaces go to a folder of their own in the system's temp folder instead.
 */
function workspacesRoot(stateRoot: string): string {
  if (process.getuid?.() !== 0 || passable(stateRoot)) return stateRoot;
  const fallback = join(tmpdir(), 'fathom-sandbox-workspaces');
  ownFolder(fallback);
  if (!passable(fallback)) {
    throw new FathomError('invalid_config', `The sandboxes cannot reach their workspaces: neither ${stateRoot} nor ${tmpdir()} can be passed through by other users`, {
      hint: 'Sandboxes run as unprivileged users of their own: set --state-dir to a folder whose parents all allow others to pass (chmod o+x).',
    });
  }
  return fallback;
}

export class BwrapBackend implements SandboxBackend {
  readonly name = 'bwrap' as const;
  private readonly sandboxes = new Set<BwrapSandbox>();
  private fontlist: { name: string; data: Buffer } | undefined;

  private constructor(
    private readonly options: BwrapOptions,
    /** This server's own folders: state (images, fonts) and workspaces (often the same). */
    private readonly stateDir: string,
    private readonly workspacesDir: string,
    private readonly bwrap: string,
    private readonly cgroups: 'v1' | 'v2' | undefined,
    readonly volumes: VolumeKind,
  ) {
    void buildFontList(options.python, join(stateDir, 'fonts'))
      .then((list) => (this.fontlist = list))
      .catch(() => undefined);
  }

  static async open(options: BwrapOptions): Promise<BwrapBackend> {
    const root = options.stateDir ?? join(tmpdir(), 'fathom-sandbox');
    ownFolder(root);
    const reachable = workspacesRoot(root);
    const name = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const own = join(root, name);
    const workspaces = join(reachable, name);
    for (const folder of new Set([root, reachable])) await sweepDeadStates(folder);
    mkdirSync(own, { mode: 0o711 });
    mkdirSync(workspaces, { recursive: true, mode: 0o711 });
    Cgroup.sweep();
    const bwrap = findProgram('bwrap');
    if (!bwrap) throw new FathomError('unavailable', 'bwrap not found', { hint: 'Install bubblewrap (scripts/setup-system.sh).' });
    return new BwrapBackend(options, own, workspaces, bwrap, Cgroup.support(), await volumeSupport(own, workspaces));
  }

  describe(): string {
    const { limits } = this.options;
    const limitsText = this.cgroups
      ? `cgroup ${this.cgroups} memory, process and CPU limits (${limits.cpus} CPU in a call, ${limits.idleCpus} between calls)`
      : `no writable cgroups: address-space limit only, ${process.getuid?.() === 0 || countsProcessesPerNamespace() ? 'a per-sandbox process limit' : 'no process-count limit'}, no CPU-share limit`;
    const user = process.getuid?.() === 0 ? 'an unprivileged host uid of its own (the server is root)' : "the server's own unprivileged uid";
    const quota =
      this.volumes.kind === 'loop' ? `a ${limits.diskMb} MB loop-mounted workspace (a hard quota)` : `a ${limits.diskMb} MB workspace quota checked during calls (${this.volumes.reason})`;
    const filter = SECCOMP_FILTER ? `a seccomp filter (${refusedSyscalls().length} calls refused)` : 'no seccomp filter on this architecture (nested namespaces disabled)';
    return `bubblewrap: every namespace unshared, no network, read-only system and /proc, own /home/user, /tmp and /dev/shm; runs as ${user}; ${filter}; ${limitsText}; ${quota}; per-process CPU time, file size and open-file limits`;
  }

  async create(): Promise<Sandbox> {
    const id = `sbx_${randomBytes(10).toString('hex')}`;
    const dir = join(this.stateDir, id);
    mkdirSync(dir, { mode: 0o711 });
    const { limits } = this.options;
    const identity = identityFor(this.options.firstUid);
    let volume: Volume;
    try {
      volume = await createVolume({ dir: join(this.workspacesDir, id), image: join(dir, 'workspace.img') }, limits.diskMb, identity, this.volumes);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw new FathomError('unavailable', `The sandbox workspace could not be made: ${(error as Error).message.split('\n')[0]}`, {
        hint: 'Check the free space where the state folder is (--state-dir), and run `fathom doctor`.',
      });
    }
    const cgroup = this.cgroups ? Cgroup.create(`${process.pid}-${id}`, { memoryBytes: limits.memoryMb * 1024 * 1024, maxProcesses: limits.maxProcesses }) : undefined;
    const sandbox = new BwrapSandbox(id, dir, { cgroup, identity, volume, bwrap: this.bwrap, options: this.options, fontlist: () => this.fontlist });
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
    for (const folder of new Set([this.workspacesDir, this.stateDir])) {
      await unmountUnder(folder);
      rmSync(folder, { recursive: true, force: true });
    }
  }
}

/** Removes workspaces left by servers that are gone (their folder names start with the pid). */
async function sweepDeadStates(root: string): Promise<void> {
  for (const name of readdirSync(root)) {
    const pid = Number(name.split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await unmountUnder(join(root, name));
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }
}

interface SandboxParts {
  cgroup: Cgroup | undefined;
  identity: Identity | undefined;
  volume: Volume;
  bwrap: string;
  options: BwrapOptions;
  fontlist: () => { name: string; data: Buffer } | undefined;
}

const ERROR_CODES = new Set<ErrorCode>(['invalid_argument', 'not_found', 'too_large', 'forbidden']);

class BwrapSandbox implements Sandbox {
  readonly backend = 'bwrap' as const;
  onClose: (() => void) | undefined;
  private kernel: KernelProcess | undefined;
  private readonly workspace: HostWorkspace;
  private closed = false;
  /** Set when the kernel died between calls (e.g. killed by a background process): told on the next call. */
  private lostBetweenCalls: KernelOutcome | undefined;
  private inCall = false;

  constructor(
    readonly id: string,
    private readonly dir: string,
    private readonly parts: SandboxParts,
  ) {
    this.workspace = new HostWorkspace(parts.volume.dir, parts.identity, parts.options.limits.diskMb);
  }

  private get limits(): BwrapLimits {
    return this.parts.options.limits;
  }

  async start(): Promise<void> {
    const { options, cgroup } = this.parts;
    const fontlist = this.parts.fontlist();
    const { command, inputs } = bwrapCommand({
      python: options.python,
      workspace: this.parts.volume.dir,
      limits: this.limits,
      memoryCgroup: cgroup !== undefined,
      ownUid: this.parts.identity !== undefined,
      ...(fontlist ? { fontlist } : {}),
    });
    cgroup?.setCpu(this.limits.cpus);
    const kernel = new KernelProcess({ argv: launcher(this.parts.bwrap, this.parts.identity, command), inputs, cgroupProcs: cgroup?.procsFiles ?? [] });
    this.kernel = kernel;
    void kernel.exited.then((reason) => {
      if (this.kernel === kernel && !this.closed && !this.inCall) this.lostBetweenCalls = restarted({ cause: 'died', how: reason });
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        kernel.ready,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS))),
      ]).finally(() => clearTimeout(timer));
      if (options.preload.length) {
        const code = options.preload.map((name) => `import ${name}`).join('\n');
        await kernel.call({ op: 'run', code, track_files: false }, STARTUP_TIMEOUT_MS, 1 << 16);
        kernel.stdout.take();
        kernel.stderr.take();
      }
    } finally {
      cgroup?.setCpu(this.limits.idleCpus);
    }
  }

  private async live(): Promise<KernelProcess> {
    this.assertOpen();
    if (!this.kernel?.alive) await this.restart();
    return this.kernel!;
  }

  private async restart(): Promise<void> {
    const old = this.kernel;
    this.kernel = undefined;
    old?.kill();
    this.parts.cgroup?.killAll();
    if (old) await old.exited;
    if (this.closed) throw closedDuringCall();
    await this.start();
  }

  /** A kernel call with the call-time CPU share; the between-calls share after it. */
  private async busy<T>(work: () => Promise<T>): Promise<T> {
    const { cgroup } = this.parts;
    cgroup?.setCpu(this.limits.cpus);
    this.inCall = true;
    try {
      return await work();
    } finally {
      this.inCall = false;
      cgroup?.setCpu(this.limits.idleCpus);
    }
  }

  /** Runs a request, turning a time limit, an abort or a death into a restarted kernel and what stopped it. */
  private async request(
    payload: Record<string, unknown>,
    options: RunOptions,
  ): Promise<{ answer?: KernelAnswer; stdout: CapturedText; stderr: CapturedText; timedOut: boolean; stopped?: KernelOutcome; before?: KernelOutcome }> {
    const kernel = await this.live();
    const earlier = this.lostBetweenCalls;
    this.lostBetweenCalls = undefined;
    const oomBefore = this.parts.cgroup?.oomKills() ?? 0;
    const disk = this.watchDisk(kernel);
    const outcome = await this.busy(() => kernel.call(payload, options.timeoutMs, options.keepBytes, options.signal)).finally(() => disk.stop());
    const stdout = kernel.stdout.take();
    const stderr = kernel.stderr.take();
    if (outcome.kind === 'answer') {
      if (outcome.answer.failure) throw new FathomError('internal', `The sandbox could not do that: ${outcome.answer.failure}`);
      return { answer: outcome.answer, stdout, stderr, timedOut: false, ...(earlier ? { before: earlier } : {}) };
    }
    kernel.kill();
    if (this.closed) throw closedDuringCall();
    let stop: KernelStop;
    if (disk.exceeded) stop = { cause: 'disk_quota', limitMb: this.limits.diskMb };
    else if (kernel.overflowed) stop = { cause: 'channel_overflow', limitMb: MAX_ANSWER_BYTES / 1024 / 1024 };
    else if (outcome.kind === 'timeout') stop = { cause: 'time_limit', limitMs: options.timeoutMs };
    else if (outcome.kind === 'aborted') stop = { cause: 'cancelled' };
    else if ((this.parts.cgroup?.oomKills() ?? 0) > oomBefore) stop = { cause: 'memory', limitMb: this.limits.memoryMb };
    else stop = { cause: 'died', how: outcome.reason };
    await this.restart();
    return { stdout, stderr, timedOut: outcome.kind === 'timeout', stopped: restarted(stop) };
  }

  /** A file operation done by the kernel inside the sandbox, where following a link reaches nothing of the host's. */
  private async fileOp(payload: Record<string, unknown>, path: string): Promise<KernelAnswer> {
    const kernel = await this.live();
    const outcome = await this.busy(() => kernel.call(payload, FILE_OP_TIMEOUT_MS, 1 << 16));
    // Whatever background processes printed meanwhile is shown with the next run.
    kernel.stdout.carry();
    kernel.stderr.carry();
    if (outcome.kind !== 'answer') {
      kernel.kill();
      if (this.closed) throw closedDuringCall();
      const stop: KernelStop = kernel.overflowed
        ? { cause: 'channel_overflow', limitMb: MAX_ANSWER_BYTES / 1024 / 1024 }
        : outcome.kind === 'exit'
          ? { cause: 'died', how: outcome.reason }
          : { cause: 'unresponsive' };
      await this.restart();
      throw kernelLostError(path, restarted(stop));
    }
    const { answer } = outcome;
    if (answer.failure) {
      if (answer.code === 'disk_full') throw this.workspace.full();
      const code = ERROR_CODES.has(answer.code as ErrorCode) ? (answer.code as ErrorCode) : 'internal';
      throw new FathomError(code, String(answer.failure), code === 'not_found' ? { hint: 'List the folder to see what is there.' } : {});
    }
    return answer;
  }

  /** Polls the workspace size during a call and stops the kernel past the quota, where no file system enforces it. */
  private watchDisk(kernel: KernelProcess): { stop(): void; exceeded: boolean } {
    if (this.parts.volume.quota === 'filesystem') return { exceeded: false, stop: () => undefined };
    const quota = this.limits.diskMb * 1024 * 1024;
    let busy = false;
    const state = { exceeded: false, stop: () => clearInterval(timer) };
    const timer: NodeJS.Timeout = setInterval(() => {
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
    const { answer, stdout, stderr, timedOut, stopped, before } = await this.request({ op: 'run', code }, options);
    const chunks = answer?.chunks as { stdout?: number[] | null; stderr?: number[] | null } | undefined;
    return {
      stdout: chunks?.stdout ? { ...stdout, chunks: chunks.stdout } : stdout,
      stderr: chunks?.stderr ? { ...stderr, chunks: chunks.stderr } : stderr,
      ...(typeof answer?.value === 'string' ? { value: answer.value } : {}),
      ...(answer?.error ? { error: answer.error as PythonError } : {}),
      ...(answer?.network_failure ? { networkFailure: true } : {}),
      figures: (answer?.figures as string[] | undefined) ?? [],
      figureTexts: (answer?.figure_texts as string[] | undefined) ?? [],
      files: (answer?.files as FileChange[] | undefined) ?? [],
      timedOut,
      ...(stopped ? { stopped } : {}),
      ...(before ? { before } : {}),
    };
  }

  async runShell(command: string, options: RunOptions): Promise<ShellOutput> {
    // The kernel enforces the command's own limit; the outer one only catches a stuck kernel.
    const inner = Math.max(1, options.timeoutMs / 1000);
    const { answer, stdout, stderr, timedOut, stopped, before } = await this.request(
      { op: 'shell', command, timeout: inner, keep: options.keepBytes },
      { ...options, timeoutMs: options.timeoutMs + 5000 },
    );
    const printed = (name: 'stdout' | 'stderr', fallback: typeof stdout) =>
      answer ? { text: String(answer[name] ?? ''), bytes: Number(answer[`${name}_bytes`] ?? 0) } : fallback;
    const out = printed('stdout', stdout);
    const err = printed('stderr', stderr);
    // Output of the kernel's own background processes arrives on its streams: keep it visible.
    if (answer && stdout.text) out.text = stdout.text + out.text;
    if (answer && stderr.text) err.text = stderr.text + err.text;
    return {
      exitCode: answer ? Number(answer.exit_code ?? -1) : -1,
      stdout: out,
      stderr: err,
      timedOut: timedOut || answer?.timed_out === true,
      ...(stopped ? { stopped } : {}),
      ...(before ? { before } : {}),
    };
  }

  async writeFile(path: string, data: Uint8Array): Promise<string> {
    const target = sandboxPath(path);
    this.assertOpen();
    if (this.parts.volume.quota === 'watchdog' && (await this.workspace.usage()) + data.length > this.limits.diskMb * 1024 * 1024) {
      throw this.workspace.full();
    }
    const staged = await this.workspace.stage(data);
    try {
      const answer = await this.fileOp({ op: 'move', source: staged, target }, target);
      return String(answer.path);
    } catch (error) {
      await this.workspace.discard(staged);
      if (error instanceof FathomError && error.code !== 'unavailable' && error.code !== 'too_large') {
        throw new FathomError(error.code, `Could not write ${target}: ${error.message}`, { hint: `Give a file path under ${WORKSPACE}.` });
      }
      throw error;
    }
  }

  async readFile(path: string, maxBytes: number): Promise<Uint8Array> {
    const source = sandboxPath(path);
    const name = this.workspace.stagingName();
    await this.fileOp({ op: 'stage_out', path: source, name, max_bytes: maxBytes }, source);
    return this.workspace.takeStaged(name, source, maxBytes);
  }

  async listFiles(path: string, recursive: boolean): Promise<FileListing> {
    const target = sandboxPath(path);
    const answer = await this.fileOp({ op: 'list', path: target, recursive, limit: MAX_LISTED }, target);
    return { entries: (answer.entries as FileListing['entries']) ?? [], omitted: Number(answer.more ?? 0), ...(answer.walk_cut ? { incomplete: true } : {}) };
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
    await this.parts.cgroup?.remove();
    await this.parts.volume.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    this.onClose?.();
  }
}

/** A bwrap kernel that was stopped is always replaced; the workspace is a host folder and stays. */
function restarted(stop: KernelStop): KernelOutcome {
  return { kernel: 'restarted', files: 'kept', stop };
}

function closedDuringCall(): FathomError {
  return new FathomError('not_found', 'The sandbox was closed during the call (by its owner, its session ending, or the server shutting down)', {
    hint: 'Create a new sandbox and run the code again.',
  });
}

