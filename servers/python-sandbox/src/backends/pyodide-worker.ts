/**
 * One Pyodide interpreter in a worker thread, driven by ./pyodide.ts. After start-up it strips the
 * JavaScript realm of the known ways to the host (process, network, eval, the Function constructor,
 * host file system mounts, package downloads), so Python that reaches JavaScript finds little there.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadPyodide } from 'pyodide';
import type { PyodideInterface } from 'pyodide';
import type { PyProxy } from 'pyodide/ffi';
import type { FileEntry, FileChange, FileListing, PythonError } from './types.js';

export interface WorkerInput {
  kernelSource: string;
  workspace: string;
  /** Most WebAssembly memory the interpreter may grow to. */
  memoryMb?: number;
  /** Int32 slot the host sets to 2 (SIGINT) to raise KeyboardInterrupt. */
  interrupt: SharedArrayBuffer;
}

export type WorkerRequest =
  | { id: number; op: 'run'; code: string; keepBytes: number }
  | { id: number; op: 'write'; path: string; data: Uint8Array }
  | { id: number; op: 'read'; path: string; maxBytes: number }
  | { id: number; op: 'list'; path: string; recursive: boolean };

export interface RunResult {
  value?: string;
  error?: PythonError;
  network_failure?: boolean;
  chunks?: { stdout: number[] | null; stderr: number[] | null };
  figures: string[];
  files: FileChange[];
  stdoutBytes: number;
  stderrBytes: number;
}

export interface ReplyError {
  code: 'not_found' | 'invalid_argument' | 'too_large' | 'internal';
  message: string;
  hint?: string;
}

export type WorkerMessage =
  | { type: 'ready'; python: string }
  | { type: 'output'; id: number; stream: 'stdout' | 'stderr'; data: Uint8Array }
  | { type: 'done'; id: number; result: unknown }
  | { type: 'failed'; id: number; error: ReplyError }
  /** The interpreter is broken beyond use; the host replaces this worker. */
  | { type: 'fatal'; id: number; message: string };

/** The part of Emscripten's FS this worker uses. */
interface MemFs {
  stat(path: string, dontFollow?: boolean): { mode: number; size: number; mtime: Date };
  isDir(mode: number): boolean;
  isFile(mode: number): boolean;
  isLink(mode: number): boolean;
  readdir(path: string): string[];
  readFile(path: string): Uint8Array;
  writeFile(path: string, data: Uint8Array): void;
  mkdirTree(path: string): void;
  chdir(path: string): void;
  filesystems: Record<string, unknown>;
  ErrnoError: new (errno: number) => Error;
}

const MAX_LISTED = 10_000;

const port = parentPort!;
const input = workerData as WorkerInput;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []) {
  port.postMessage(message, transfer);
}

/** Bytes written to one stream during one run: all counted, the first `keep` sent to the host. */
class Stream {
  total = 0;
  private keep = 0;
  private id = 0;

  constructor(private readonly name: 'stdout' | 'stderr') {}

  reset(id: number, keep: number) {
    this.id = id;
    this.keep = keep;
    this.total = 0;
  }

  write(buffer: Uint8Array): number {
    const room = this.keep - this.total;
    this.total += buffer.length;
    if (room > 0) {
      const data = buffer.slice(0, room);
      post({ type: 'output', id: this.id, stream: this.name, data }, [data.buffer]);
    }
    return buffer.length;
  }
}

const KERNEL_SETUP = `
import sys, time, types
kernel_module = types.ModuleType("fathom_kernel")
sys.modules["fathom_kernel"] = kernel_module
exec(compile(kernel_source, "<kernel>", "exec"), kernel_module.__dict__)
kernel = kernel_module.Kernel()

# time.sleep blocks inside WebAssembly, where the time limit cannot reach; short naps let it.
real_sleep = time.sleep

def sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        real_sleep(min(left, 0.05))

time.sleep = sleep

def flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass

for name in ("js", "pyodide_js", "pyodide_js._api"):
    sys.modules.pop(name, None)
`;

/** Removes every route from this realm to the host; Pyodide keeps working through its own closures. */
function lockDown(pyodide: PyodideInterface) {
  const blocked = () => {
    throw new Error('not available in the sandbox');
  };
  const functionKinds = [function () {}, async function () {}, function* () {}, async function* () {}];
  for (const kind of functionKinds) {
    Object.defineProperty(Object.getPrototypeOf(kind), 'constructor', { value: blocked, writable: false, configurable: false });
  }
  const global = globalThis as Record<string, unknown>;
  for (const name of ['process', 'eval', 'fetch', 'WebSocket', 'XMLHttpRequest', 'EventSource', 'BroadcastChannel']) {
    delete global[name];
  }
  const api = pyodide as unknown as Record<string, unknown>;
  const internals = api._api as Record<string, unknown>;
  const module = api._module as Record<string, unknown>;
  const fs = pyodide.FS as unknown as MemFs & Record<string, unknown>;
  const strip = (target: Record<string, unknown>, names: string[]) => {
    for (const name of names) delete target[name];
  };
  strip(fs.filesystems, ['NODEFS', 'NATIVEFS_ASYNC', 'IDBFS', 'WORKERFS', 'PROXYFS']);
  strip(fs, ['createLazyFile', 'createPreloadedFile', 'preloadFile']);
  strip(module, ['NODEFS', 'IDBFS', 'WORKERFS', 'PROXYFS', 'wget', 'asyncLoad', 'loadDynamicLibrary', 'FS_createLazyFile', 'FS_createPreloadedFile', 'FS_preloadFile']);
  // Emscripten turns Python sockets into WebSocket connections to the address asked for.
  const sockets = (module.SOCKFS as { websocket_sock_ops: Record<string, unknown> }).websocket_sock_ops;
  const networkUnreachable = (pyodide.ERRNO_CODES as Record<string, number>).ENETUNREACH!;
  const unreachable = () => {
    throw new fs.ErrnoError(networkUnreachable);
  };
  sockets.createPeer = unreachable;
  sockets.listen = unreachable;
  strip(internals, ['loadBinaryFile', 'install', 'packageManager', 'initializeNodeSockFS', '_nodeSock', 'loadDynlib']);
  strip(api, ['mountNodeFS', 'mountNativeFS', 'useNodeSockFS', 'loadPackage', 'loadPackagesFromImports', 'registerComlink', '_api', '_module']);
}

/** Top-level import names of the packages Pyodide distributes (none can be fetched here). */
function distributedModules(pyodide: PyodideInterface): Set<string> {
  const names = new Set<string>();
  for (const entry of Object.values(pyodide.lockfile.packages)) {
    for (const name of entry.imports) names.add(name);
  }
  return names;
}

interface GrowableMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** Emscripten grows its heap through Memory.grow and turns a refusal into a failed malloc: MemoryError. */
function capMemory(megabytes: number) {
  const limit = megabytes * 1024 * 1024;
  const memory = (globalThis as unknown as { WebAssembly: { Memory: { prototype: GrowableMemory } } }).WebAssembly.Memory.prototype;
  const grow = memory.grow;
  memory.grow = function (this: GrowableMemory, pages: number) {
    if (this.buffer.byteLength + pages * 65536 > limit) throw new RangeError(`memory limit of ${megabytes} MB reached`);
    return grow.call(this, pages);
  };
}

const stdout = new Stream('stdout');
const stderr = new Stream('stderr');

if (input.memoryMb) capMemory(input.memoryMb);
const pyodide = await loadPyodide({
  jsglobals: Object.create(null) as object,
  env: { HOME: input.workspace, FATHOM_WORKSPACE: input.workspace },
  stdout: () => {},
  stderr: () => {},
});
const fs = pyodide.FS as unknown as MemFs;
fs.mkdirTree(input.workspace);
fs.chdir(input.workspace);
pyodide.setStdout({ write: (buffer: Uint8Array) => stdout.write(buffer) });
pyodide.setStderr({ write: (buffer: Uint8Array) => stderr.write(buffer) });
pyodide.setStdin({ error: true });
pyodide.setInterruptBuffer(new Int32Array(input.interrupt));

const setup = pyodide.toPy({ kernel_source: input.kernelSource }) as PyProxy;
pyodide.runPython(KERNEL_SETUP, { globals: setup, filename: '<sandbox>' });
const kernel = setup.get('kernel') as PyProxy & { run(code: string, trackFiles: boolean): PyProxy };
const flush = setup.get('flush') as PyProxy & (() => void);
const python = pyodide.runPython('import sys; sys.version.split()[0]') as string;
const missingPackages = distributedModules(pyodide);
const errno = pyodide.ERRNO_CODES as Record<string, number>;
pyodide.unregisterJsModule('pyodide_js');
lockDown(pyodide);

function retitled(error: PythonError, name: string, value: string): PythonError {
  const cut = error.traceback.lastIndexOf(`${error.name}: `);
  const traceback = (cut === -1 ? error.traceback : error.traceback.slice(0, cut)) + `${name}: ${value}\n`;
  return { name, value, traceback };
}

/** Errors whose own text misleads here (install with micropip, JavaScript internals): say what works instead. */
function explain(error: PythonError): PythonError {
  const inEventLoop = error.value === "No module named 'pyodide_js'" && error.traceback.includes('webloop.py');
  if (error.value.includes('stack switching') || inEventLoop) {
    return retitled(
      error,
      'RuntimeError',
      'asyncio event loops (asyncio.run, top-level await) do not run in the pyodide backend on this Node.js; ' +
        'write synchronous code, or use the bwrap backend.',
    );
  }
  const name = /module (?:named )?'([^']+)'/.exec(error.value)?.[1]?.split('.')[0];
  if (error.name !== 'ModuleNotFoundError' || !name || !missingPackages.has(name)) return error;
  return retitled(
    error,
    error.name,
    `No module named '${name}'. It is not available in the pyodide backend (no network to fetch packages; ` +
      'standard library only); use the bwrap backend (Linux with bubblewrap) for numpy, pandas, scipy, sympy, matplotlib.',
  );
}

function isPythonError(error: unknown): error is Error & { type: string } {
  return error instanceof pyodide.ffi.PythonError;
}

function run(id: number, code: string, keepBytes: number): RunResult {
  stdout.reset(id, keepBytes);
  stderr.reset(id, keepBytes);
  let result: Omit<RunResult, 'stdoutBytes' | 'stderrBytes'>;
  try {
    const answer = kernel.run(code, true);
    try {
      result = answer.toJs({ dict_converter: Object.fromEntries }) as typeof result;
    } finally {
      answer.destroy();
    }
  } catch (error) {
    if (!isPythonError(error)) throw error;
    // An interrupt that landed in the kernel's own bookkeeping, after the cell.
    result = { error: { name: error.type, value: '', traceback: error.message }, figures: [], files: [] };
  }
  try {
    flush();
  } catch (error) {
    if (!isPythonError(error)) throw error;
  }
  const value = result.value ?? undefined;
  const error = result.error ? explain(result.error) : undefined;
  return { ...result, value, error, stdoutBytes: stdout.total, stderrBytes: stderr.total };
}

class Failure extends Error {
  constructor(readonly reply: ReplyError) {
    super(reply.message);
  }
}

function errnoOf(error: unknown): number | undefined {
  const value = (error as { errno?: unknown } | null)?.errno;
  return typeof value === 'number' ? value : undefined;
}

function fsFailure(error: unknown, path: string): Failure {
  const code = errnoOf(error);
  if (code === undefined) return new Failure({ code: 'internal', message: `File operation on ${path} failed: ${String(error)}` });
  if (code === errno.ENOENT) return new Failure({ code: 'not_found', message: `No such file or folder: ${path}` });
  if (code === errno.EISDIR) return new Failure({ code: 'invalid_argument', message: `${path} is a folder` });
  if (code === errno.ENOTDIR) return new Failure({ code: 'invalid_argument', message: `A part of ${path} is a file, not a folder` });
  const name = Object.keys(errno).find((key) => errno[key] === code) ?? `errno ${code}`;
  return new Failure({ code: 'invalid_argument', message: `File operation on ${path} failed: ${name}` });
}

function withFs<T>(path: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw error instanceof Failure ? error : fsFailure(error, path);
  }
}

function writeFile(path: string, data: Uint8Array): string {
  return withFs(path, () => {
    const parent = path.slice(0, path.lastIndexOf('/'));
    if (parent) fs.mkdirTree(parent);
    fs.writeFile(path, data);
    return path;
  });
}

function readFile(path: string, maxBytes: number): Uint8Array {
  return withFs(path, () => {
    const stat = fs.stat(path);
    if (fs.isDir(stat.mode)) throw new Failure({ code: 'invalid_argument', message: `${path} is a folder`, hint: 'List it instead, or give a file path.' });
    if (stat.size > maxBytes) {
      throw new Failure({ code: 'too_large', message: `${path} has ${stat.size} bytes, more than the ${maxBytes} allowed` });
    }
    const data = fs.readFile(path);
    return data.byteLength === data.buffer.byteLength ? data : data.slice();
  });
}

function entryOf(path: string): FileEntry {
  const stat = fs.stat(path, true);
  const type = fs.isFile(stat.mode) ? 'file' : fs.isDir(stat.mode) ? 'directory' : fs.isLink(stat.mode) ? 'symlink' : 'other';
  return { path, type, size: type === 'file' ? stat.size : 0, modified: new Date(stat.mtime).toISOString() };
}

function listFiles(path: string, recursive: boolean): FileListing {
  return withFs(path, () => {
    const top = entryOf(path);
    if (top.type !== 'directory') return { entries: [top], omitted: 0 };
    const entries: FileEntry[] = [];
    let omitted = 0;
    const folders = [path];
    while (folders.length > 0) {
      const folder = folders.shift()!;
      for (const name of fs.readdir(folder).sort()) {
        if (name === '.' || name === '..') continue;
        const entry = entryOf(folder === '/' ? `/${name}` : `${folder}/${name}`);
        if (entries.length < MAX_LISTED) entries.push(entry);
        else omitted++;
        if (recursive && entry.type === 'directory') folders.push(entry.path);
      }
    }
    return { entries, omitted };
  });
}

function handle(request: WorkerRequest) {
  try {
    switch (request.op) {
      case 'run':
        post({ type: 'done', id: request.id, result: run(request.id, request.code, request.keepBytes) });
        return;
      case 'write':
        post({ type: 'done', id: request.id, result: writeFile(request.path, request.data) });
        return;
      case 'read': {
        const data = readFile(request.path, request.maxBytes);
        post({ type: 'done', id: request.id, result: data }, [data.buffer as ArrayBuffer]);
        return;
      }
      case 'list':
        post({ type: 'done', id: request.id, result: listFiles(request.path, request.recursive) });
        return;
    }
  } catch (error) {
    if (error instanceof Failure) post({ type: 'failed', id: request.id, error: error.reply });
    else post({ type: 'fatal', id: request.id, message: error instanceof Error ? error.message : String(error) });
  }
}

port.on('message', handle);
post({ type: 'ready', python });
