import {
  AuthenticationError,
  CommandExitError,
  FileNotFoundError,
  FileType,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  RateLimitError,
  SandboxError,
  SandboxNotFoundError,
  ServiceBusyError,
  TimeoutError,
} from '@e2b/code-interpreter';
import { createLogger, FathomError } from '@fathom/core';
import { describe, expect, it } from 'vitest';
import {
  captured,
  cellOutputFrom,
  commandResultOf,
  DEFAULT_TEMPLATE,
  E2BBackend,
  E2BSandbox,
  errorFrom,
  fileChanges,
  fileEntryFrom,
  isRunTimeout,
  listingFrom,
  shellOutputFrom,
  timeoutOutcome,
} from '../src/backends/e2b.js';
import type { EntryLike, ExecutionLike, RemoteLike } from '../src/backends/e2b.js';
import { cellReport, executionRepr } from '../src/format.js';

const logger = createLogger('e2b-test', { level: 'silent' });
const ESC = String.fromCharCode(27);

function execution(parts: Partial<ExecutionLike> = {}): ExecutionLike {
  return { results: [], logs: { stdout: [], stderr: [] }, ...parts };
}

function entry(path: string, size: number, modified = 1_700_000_000_000, type: string = FileType.FILE): EntryLike {
  return { path, type, size, modifiedTime: new Date(modified) };
}

describe('captured', () => {
  it('joins chunks and counts bytes', () => {
    expect(captured(['a\n', 'bé\n'], 100)).toEqual({ text: 'a\nbé\n', bytes: 6 });
  });

  it('keeps at most keepBytes, never half a character', () => {
    expect(captured(['ab', 'cdef'], 3)).toEqual({ text: 'abc', bytes: 6 });
    expect(captured(['aé'], 2)).toEqual({ text: 'a', bytes: 3 });
    expect(captured([], 10)).toEqual({ text: '', bytes: 0 });
  });
});

describe('cellOutputFrom', () => {
  it('maps logs, the main result, figures and the error', () => {
    const output = cellOutputFrom(
      execution({
        results: [
          { isMainResult: false, png: 'iVBORfigure1' },
          { isMainResult: true, text: '42' },
          { isMainResult: false, text: '<Figure size 640x480>', png: 'iVBORfigure2' },
        ],
        logs: { stdout: ['hello\n', 'world\n'], stderr: ['warn\n'] },
        error: { name: 'ValueError', value: 'bad', traceback: `${ESC}[0;31mValueError${ESC}[0m: bad` },
      }),
      1000,
    );
    expect(output).toEqual({
      stdout: { text: 'hello\nworld\n', bytes: 12, chunks: [6, 6] },
      stderr: { text: 'warn\n', bytes: 5, chunks: [5] },
      value: '42',
      error: { name: 'ValueError', value: 'bad', traceback: 'ValueError: bad' },
      figures: ['iVBORfigure1', 'iVBORfigure2'],
      files: [],
      timedOut: false,
    });
  });

  it('has no value without a main result, and caps output', () => {
    const output = cellOutputFrom(execution({ results: [{ isMainResult: false, text: 'shown' }], logs: { stdout: ['x'.repeat(50)], stderr: [] } }), 10);
    expect(output).not.toHaveProperty('value');
    expect(output).not.toHaveProperty('error');
    expect(output.stdout).toEqual({ text: 'x'.repeat(10), bytes: 50, chunks: [50] });
  });

  it("prints E2B's own stream messages in the Execution repr, and the kept part of a cut one", () => {
    const output = cellOutputFrom(execution({ logs: { stdout: ['a\nb\n', 'é\n', 'tail'], stderr: [] } }), 1000);
    expect(executionRepr(output)).toBe("Execution(Results: [], Logs: Logs(stdout: ['a\\nb\\n', 'é\\n', 'tail'], stderr: []), Error: None)");
    const cut = cellOutputFrom(execution({ logs: { stdout: ['abc', 'defgh'], stderr: [] } }), 5);
    expect(executionRepr(cut)).toContain("stdout: ['abc', 'de']");
  });
});

describe('shell results', () => {
  it('treats a CommandExitError as a finished command with its exit code', () => {
    const error = new CommandExitError({ exitCode: 3, stdout: 'out\n', stderr: 'boom\n', error: 'exit status 3' });
    const result = commandResultOf(error);
    expect(result).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'boom\n' });
    expect(shellOutputFrom(result!, 1000)).toEqual({
      exitCode: 3,
      stdout: { text: 'out\n', bytes: 4 },
      stderr: { text: 'boom\n', bytes: 5 },
      timedOut: false,
    });
  });

  it('leaves other errors alone and caps output', () => {
    expect(commandResultOf(new SandboxError('other'))).toBeUndefined();
    expect(shellOutputFrom({ exitCode: 0, stdout: 'abcdef', stderr: '' }, 2, true)).toMatchObject({
      stdout: { text: 'ab', bytes: 6 },
      timedOut: true,
    });
  });
});

describe('errorFrom', () => {
  it('maps authentication failures to forbidden with a key hint', () => {
    for (const error of [new AuthenticationError('Unauthorized, please check your credentials.'), Object.assign(new SandboxError('403: no'), { statusCode: 403 })]) {
      const mapped = errorFrom(error);
      expect(mapped.code).toBe('forbidden');
      expect(mapped.hint).toContain('E2B_API_KEY');
      expect(mapped.hint).toContain('FATHOM_E2B_API_KEY');
      expect(mapped.cause).toBe(error);
    }
  });

  it('maps a gone sandbox to not_found with a hint to create a new one', () => {
    const gone = [
      new SandboxNotFoundError('Sandbox abc not found'),
      new TimeoutError("502: This error is likely due to sandbox timeout. You can modify the sandbox timeout by passing 'timeoutMs'"),
      new TimeoutError('The sandbox was killed while the request was in progress.'),
    ];
    for (const error of gone) {
      const mapped = errorFrom(error);
      expect(mapped.code).toBe('not_found');
      expect(mapped.hint).toMatch(/Create a new sandbox/);
    }
    expect(errorFrom(new NotFoundError('Context x not found')).code).toBe('not_found');
    expect(errorFrom(new FileNotFoundError('/home/user/nope')).code).toBe('not_found');
  });

  it('maps rate limits, busy service, timeouts and bad input', () => {
    expect(errorFrom(new RateLimitError('Rate limit exceeded')).code).toBe('rate_limited');
    expect(errorFrom(new ServiceBusyError('Service temporarily unavailable')).code).toBe('unavailable');
    expect(errorFrom(new TimeoutError("Request timed out — the 'requestTimeoutMs' option can be used")).code).toBe('timeout');
    expect(errorFrom(new InvalidArgumentError('depth should be at least one')).code).toBe('invalid_argument');
    expect(errorFrom(new NotEnoughSpaceError('disk full')).code).toBe('too_large');
    expect(errorFrom(new Error('something odd')).code).toBe('upstream');
  });

  it('says E2B could not be reached on network failures', () => {
    const cause = Object.assign(new Error('getaddrinfo ENOTFOUND api.e2b.app'), { code: 'ENOTFOUND' });
    const mapped = errorFrom(new TypeError('fetch failed', { cause }));
    expect(mapped.code).toBe('network');
    expect(mapped.message).toMatch(/E2B could not be reached/);
  });

  it('passes FathomErrors through', () => {
    const error = new FathomError('too_large', 'big');
    expect(errorFrom(error)).toBe(error);
  });
});

describe('isRunTimeout and timeoutOutcome', () => {
  it('tells the cell limit from other timeouts', () => {
    expect(isRunTimeout(new TimeoutError("Execution timed out — the 'timeoutMs' option can be used"), 10, 1000)).toBe(true);
    expect(isRunTimeout(new TimeoutError('something slow'), 1500, 1000)).toBe(true);
    expect(isRunTimeout(new TimeoutError('something slow'), 10, 1000)).toBe(false);
    expect(isRunTimeout(new TimeoutError('The sandbox was killed while the request was in progress.'), 1500, 1000)).toBe(false);
    expect(isRunTimeout(new SandboxError('Execution timed out'), 1500, 1000)).toBe(false);
  });

  it('states what became of the kernel, and that the files stay', () => {
    expect(timeoutOutcome(2000, 'kept')).toEqual({ kernel: 'kept', files: 'kept', stop: { cause: 'time_limit', limitMs: 2000 } });
    expect(timeoutOutcome(2000, 'restarted')).toEqual({ kernel: 'restarted', files: 'kept', ignoredInterrupt: true, stop: { cause: 'time_limit', limitMs: 2000 } });
    expect(timeoutOutcome(2000, 'unknown')).toMatchObject({ kernel: 'unknown', files: 'kept' });
    const report = (state: 'kept' | 'restarted' | 'unknown') => cellReport({ ...cellOutputFrom(execution(), 100), timedOut: true, stopped: timeoutOutcome(2000, state) });
    expect(report('kept').restarted).toBeUndefined();
    expect(report('kept').error).toMatchObject({ name: 'TimeoutError', traceback: '' });
    expect(report('kept').error?.value).toMatch(/2 s time limit.*variables and imports from earlier cells are kept/);
    expect(report('restarted').restarted).toMatch(/did not stop when interrupted\. A fresh kernel was started: variables and imports are gone; files in \/home\/user are kept/);
    expect(report('unknown').restarted).toMatch(/may still be running/);
  });
});

describe('file listings', () => {
  it('finds created, modified and deleted files, skipping hidden folders', () => {
    const before = listingFrom([
      entry('/home/user/a.csv', 10),
      entry('/home/user/b.txt', 5),
      entry('/home/user/gone.txt', 7),
      entry('/home/user/data', 0, 0, FileType.DIR),
    ]);
    const after = listingFrom([
      entry('/home/user/a.csv', 10),
      entry('/home/user/b.txt', 5, 1_700_000_009_000),
      entry('/home/user/new.png', 99),
      entry('/home/user/.env', 3),
      entry('/home/user/.cache/matplotlib/fontlist.json', 500),
    ]);
    expect(fileChanges(before, after)).toEqual([
      { path: '/home/user/.env', change: 'created', size: 3 },
      { path: '/home/user/b.txt', change: 'modified', size: 5 },
      { path: '/home/user/gone.txt', change: 'deleted', size: 7 },
      { path: '/home/user/new.png', change: 'created', size: 99 },
    ]);
  });

  it('compares only the range both listings covered when one was cut short', () => {
    const names = (count: number) => Array.from({ length: count }, (_, i) => entry(`/home/user/f${String(i).padStart(3, '0')}`, 1));
    const before = listingFrom(names(5), 3);
    const after = listingFrom(names(2), 3);
    expect(before.through).toBe('/home/user/f002');
    expect(fileChanges(before, after)).toEqual([{ path: '/home/user/f002', change: 'deleted', size: 1 }]);
  });

  it('maps SDK entries to file entries', () => {
    expect(fileEntryFrom(entry('/home/user/data', 4096, 0, FileType.DIR))).toEqual({
      path: '/home/user/data',
      type: 'directory',
      size: 4096,
      modified: '1970-01-01T00:00:00.000Z',
    });
    expect(fileEntryFrom({ path: '/home/user/l', type: FileType.SYMLINK, size: 1 }).type).toBe('symlink');
    expect(fileEntryFrom({ path: '/dev/x', type: undefined, size: 0 }).type).toBe('other');
  });
});

/** A stand-in for the SDK sandbox: runCode, commands and files answer from the given functions. */
function fakeRemote(parts: {
  runCode?: (code: string, opts: { onStdout?: (m: { line: string }) => void; timeoutMs?: number }) => Promise<ExecutionLike>;
  run?: () => unknown;
  list?: () => Promise<EntryLike[]>;
  getInfo?: (path: string) => Promise<EntryLike>;
  read?: () => Promise<Uint8Array>;
  setTimeout?: () => Promise<void>;
  kill?: () => Promise<boolean>;
}) {
  const calls = { lifetimes: [] as number[], killed: 0, restarted: [] as string[], codes: [] as string[] };
  const remote = {
    sandboxId: 'sbx-fake',
    runCode: async (code: string, opts: { timeoutMs?: number }) => {
      calls.codes.push(code);
      return parts.runCode ? parts.runCode(code, opts) : execution();
    },
    setTimeout: async (ms: number) => {
      calls.lifetimes.push(ms);
      await parts.setTimeout?.();
    },
    kill: async () => {
      calls.killed++;
      return parts.kill ? parts.kill() : true;
    },
    listCodeContexts: async () => [
      { id: 'ctx-py', language: 'python', cwd: '/home/user' },
      { id: 'ctx-js', language: 'javascript', cwd: '/home/user' },
    ],
    restartCodeContext: async (id: string) => {
      calls.restarted.push(id);
    },
    commands: { run: async () => parts.run?.() },
    files: {
      list: parts.list ?? (async () => []),
      getInfo: parts.getInfo ?? (async (path: string) => entry(path, 1)),
      read: parts.read ?? (async () => new Uint8Array()),
      write: async (path: string) => ({ name: path.split('/').pop(), path }),
    },
  };
  return { remote: remote as unknown as RemoteLike, calls };
}

function sandboxOf(remote: RemoteLike): E2BSandbox {
  return new E2BSandbox(remote, { sandboxTimeoutMs: 300_000, logger });
}

const run = { timeoutMs: 1000, keepBytes: 1000 };

describe('E2BSandbox (against a stand-in for the SDK)', () => {
  it('runs a cell, reports file changes and extends the lifetime', async () => {
    let listings = 0;
    const { remote, calls } = fakeRemote({
      runCode: async () => execution({ results: [{ isMainResult: true, text: '42' }], logs: { stdout: ['hi\n'], stderr: [] } }),
      list: async () => (listings++ === 0 ? [] : [entry('/home/user/out.csv', 12)]),
    });
    const output = await sandboxOf(remote).runPython('x + 1', { timeoutMs: 600_000, keepBytes: 100 });
    expect(output).toMatchObject({ value: '42', stdout: { text: 'hi\n' }, timedOut: false });
    expect(output.files).toEqual([{ path: '/home/user/out.csv', change: 'created', size: 12 }]);
    expect(calls.lifetimes).toEqual([660_000]);
  });

  it('reports a cell that overran but left the kernel alive', async () => {
    const { remote, calls } = fakeRemote({
      runCode: async (code, opts) => {
        if (code === 'pass') return execution();
        opts.onStdout?.({ line: 'partial\n' });
        throw new TimeoutError("Execution timed out — the 'timeoutMs' option can be used to increase this timeout");
      },
    });
    const output = await sandboxOf(remote).runPython('while True: print("partial")', run);
    expect(output.timedOut).toBe(true);
    expect(output.stdout.text).toBe('partial\n');
    expect(output.error).toBeUndefined();
    expect(output.stopped).toMatchObject({ kernel: 'kept', files: 'kept' });
    expect(cellReport(output).error?.name).toBe('TimeoutError');
    expect(calls.restarted).toEqual([]);
  });

  it('restarts the Python kernel when it stays busy after an overrun', async () => {
    const { remote, calls } = fakeRemote({
      runCode: async (code) => {
        if (code.includes('chdir')) return execution();
        throw new TimeoutError("Execution timed out — the 'timeoutMs' option can be used to increase this timeout");
      },
    });
    const output = await sandboxOf(remote).runPython('import time; time.sleep(99)', run);
    expect(output.timedOut).toBe(true);
    expect(output.stopped).toMatchObject({ kernel: 'restarted', files: 'kept' });
    expect(cellReport(output).restarted).toMatch(/A fresh kernel was started/);
    expect(calls.restarted).toEqual(['ctx-py']);
  });

  it('rejects a cancelled cell at once', async () => {
    const { remote } = fakeRemote({ runCode: () => new Promise(() => {}) });
    const controller = new AbortController();
    const pending = sandboxOf(remote).runPython('x', { ...run, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
  });

  it('tells the next cell when a cancelled one kept the kernel busy and it was restarted', async () => {
    const { remote, calls } = fakeRemote({
      runCode: async (code) => {
        if (code === 'stuck') return new Promise<ExecutionLike>(() => {});
        if (code === 'pass') throw new TimeoutError('Execution timed out');
        return execution({ results: [{ isMainResult: true, text: '2' }] });
      },
    });
    const sandbox = sandboxOf(remote);
    const controller = new AbortController();
    const pending = sandbox.runPython('stuck', { ...run, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
    const next = await sandbox.runPython('1 + 1', run);
    expect(calls.restarted).toEqual(['ctx-py']);
    expect(next).toMatchObject({ value: '2', before: { kernel: 'restarted', files: 'kept', stop: { cause: 'cancelled' } } });
    expect(cellReport(next).notice).toBe(
      'The previous run was cancelled and did not stop when interrupted; variables and imports were lost before this run.',
    );
    expect((await sandbox.runPython('1 + 1', run)).before).toBeUndefined();
  });

  it('returns a non-zero exit as a result', async () => {
    const handle = {
      wait: async () => {
        throw new CommandExitError({ exitCode: 2, stdout: '', stderr: 'ls: nope\n', error: 'exit status 2' });
      },
    };
    const { remote } = fakeRemote({ run: () => handle });
    expect(await sandboxOf(remote).runShell('ls nope', run)).toEqual({
      exitCode: 2,
      stdout: { text: '', bytes: 0 },
      stderr: { text: 'ls: nope\n', bytes: 9 },
      timedOut: false,
    });
  });

  it('kills a command at its time limit', async () => {
    let finish: (() => void) | undefined;
    let killed = false;
    const exited = new Promise<never>((_, reject) => (finish = () => reject(new CommandExitError({ exitCode: -1, stdout: 'tick\n', stderr: '' }))));
    const handle = {
      stdout: 'tick\n',
      stderr: '',
      wait: () => exited,
      kill: async () => {
        killed = true;
        finish?.();
        return true;
      },
      disconnect: async () => {},
    };
    const { remote } = fakeRemote({ run: () => handle });
    const output = await sandboxOf(remote).runShell('while true; do echo tick; sleep 1; done', { timeoutMs: 50, keepBytes: 100 });
    expect(killed).toBe(true);
    expect(output).toMatchObject({ exitCode: -1, timedOut: true, stdout: { text: 'tick\n' } });
  });

  it('checks a file before reading it', async () => {
    const { remote } = fakeRemote({
      getInfo: async (path) => {
        if (path.endsWith('big.bin')) return entry(path, 5000);
        if (path.endsWith('dir')) return entry(path, 0, 0, FileType.DIR);
        if (path.endsWith('nope')) throw new FileNotFoundError(`path '${path}' does not exist`);
        return entry(path, 3);
      },
      read: async () => new Uint8Array([1, 2, 3]),
    });
    const sandbox = sandboxOf(remote);
    expect(await sandbox.readFile('ok.bin', 100)).toEqual(new Uint8Array([1, 2, 3]));
    await expect(sandbox.readFile('big.bin', 100)).rejects.toMatchObject({ code: 'too_large' });
    await expect(sandbox.readFile('dir', 100)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(sandbox.readFile('nope', 100)).rejects.toMatchObject({ code: 'not_found', message: '/home/user/nope does not exist' });
    expect(await sandbox.listFiles('ok.bin', false)).toEqual({ entries: [expect.objectContaining({ path: '/home/user/ok.bin', type: 'file' })], omitted: 0 });
    expect(await sandbox.writeFile('sub/../out.txt', new Uint8Array([65]))).toBe('/home/user/out.txt');
  });

  it('says the sandbox is gone when its lifetime ran out', async () => {
    const { remote } = fakeRemote({
      setTimeout: async () => {
        throw new SandboxNotFoundError('Sandbox sbx-fake not found');
      },
      run: () => {
        throw new SandboxError('2: unknown');
      },
    });
    await expect(sandboxOf(remote).runShell('true', run)).rejects.toMatchObject({ code: 'not_found', hint: expect.stringMatching(/Create a new sandbox/) });
  });

  it('kills the sandbox once on close, ignoring one already gone', async () => {
    const { remote, calls } = fakeRemote({ kill: async () => false });
    const sandbox = sandboxOf(remote);
    await sandbox.close();
    await sandbox.close();
    expect(calls.killed).toBe(1);
    await expect(sandbox.runShell('true', run)).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('E2BBackend', () => {
  it('describes itself in one line', () => {
    const line = new E2BBackend({ apiKey: 'k', sandboxTimeoutMs: 600_000, logger }).describe();
    expect(line).toContain(DEFAULT_TEMPLATE);
    expect(line).toContain('600s');
    expect(line).not.toContain('\n');
  });

  it('refuses to start without an API key', async () => {
    const saved = process.env.E2B_API_KEY;
    delete process.env.E2B_API_KEY;
    try {
      const backend = new E2BBackend({ apiKey: '', sandboxTimeoutMs: 60_000, logger });
      await expect(backend.create()).rejects.toMatchObject({ code: 'forbidden', hint: expect.stringContaining('E2B_API_KEY') });
    } finally {
      if (saved !== undefined) process.env.E2B_API_KEY = saved;
    }
  });
});
