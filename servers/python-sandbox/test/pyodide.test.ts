// Runs the built worker (dist/backends/pyodide-worker.js): build the package before these tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, isFathomError } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PyodideBackend } from '../src/backends/pyodide.js';
import type { CellOutput, Sandbox } from '../src/backends/types.js';
import { cellReport } from '../src/format.js';

const logger = createLogger('pyodide-test', { level: 'error', write: () => {} });
/** In the server's environment, as API keys are: interpreters must not see it. */
const SERVER_SECRET = 'serper-key-of-the-server';
process.env.SERPER_API_KEY = SERVER_SECRET;
const LOAD = 60_000;
const RUN = { timeoutMs: 10_000, keepBytes: 64 * 1024 };

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

/** One backend and one sandbox per describe block: each sandbox loads Pyodide (seconds). */
function useSandbox(memoryMb?: number) {
  const state = {} as { backend: PyodideBackend; sandbox: Sandbox };
  beforeAll(async () => {
    state.backend = new PyodideBackend({ logger, ...(memoryMb ? { memoryMb } : {}) });
    state.sandbox = await state.backend.create();
  }, LOAD);
  afterAll(() => state.backend.close());
  return state;
}

describe('pyodide backend: cells', () => {
  const env = useSandbox();

  it('gives sandboxes random ids and describes its isolation', () => {
    expect(env.sandbox.id).toMatch(/^pyo_[0-9a-f]{20}$/);
    expect(env.sandbox.backend).toBe('pyodide');
    expect(env.backend.describe()).toMatch(/WebAssembly.*no network, no host files/);
  });

  it('keeps variables across calls', async () => {
    const first = await env.sandbox.runPython('x = 41', RUN);
    expect(first.value).toBeUndefined();
    expect(first.error).toBeUndefined();
    const second = await env.sandbox.runPython('x + 1', RUN);
    expect(second.value).toBe('42');
    expect(second.timedOut).toBe(false);
  });

  it('captures stdout and stderr exactly, without a trailing newline', async () => {
    const output = await env.sandbox.runPython('import sys\nprint("out", end="")\nsys.stderr.write("err\\u00e9")', RUN);
    expect(output.stdout).toEqual({ text: 'out', bytes: 3, chunks: [3] });
    expect(output.stderr).toEqual({ text: 'erré', bytes: 5, chunks: [4] });
    expect(output.value).toBe('4');
  });

  it('reports an exception with a traceback naming the cell line', async () => {
    const output = await env.sandbox.runPython('a = 1\nb = 0\na / b', RUN);
    expect(output.error?.name).toBe('ZeroDivisionError');
    expect(output.error?.value).toBe('division by zero');
    expect(output.error?.traceback).toMatch(/File "<cell-\d+>", line 3/);
    expect(output.error?.traceback).not.toContain('<kernel>');
  });

  it('reports a SyntaxError', async () => {
    const output = await env.sandbox.runPython('def broken(:\n    pass', RUN);
    expect(output.error?.name).toBe('SyntaxError');
    expect(output.error?.traceback).toContain('line 1');
  });

  it('treats sys.exit as a cell error and keeps the interpreter', async () => {
    await env.sandbox.runPython('kept = "yes"', RUN);
    const output = await env.sandbox.runPython('import sys\nsys.exit(3)', RUN);
    expect(output.error).toMatchObject({ name: 'SystemExit', value: '3' });
    expect(output.stopped).toBeUndefined();
    expect((await env.sandbox.runPython('kept', RUN)).value).toBe("'yes'");
  });

  it('explains that packages such as numpy are not available', async () => {
    const output = await env.sandbox.runPython('import numpy', RUN);
    expect(output.error?.name).toBe('ModuleNotFoundError');
    expect(output.error?.value).toContain("No module named 'numpy'");
    expect(output.error?.value).toContain('not available in the pyodide backend');
    expect(output.error?.value).toContain('use the bwrap backend');
    expect(output.error?.traceback).not.toContain('micropip');
  });

  it('fails fast on micropip and leaves unknown modules alone', async () => {
    const micropip = await env.sandbox.runPython('import micropip', RUN);
    expect(micropip.error?.value).toContain('not available in the pyodide backend');
    const unknown = await env.sandbox.runPython('import no_such_module_here', RUN);
    expect(unknown.error?.value).toBe("No module named 'no_such_module_here'");
  });

  it('runs the standard library, C extensions included', async () => {
    const code = 'import sqlite3, json, decimal, hashlib\nsqlite3.connect(":memory:").execute("select 2 * 21").fetchone()[0]';
    expect((await env.sandbox.runPython(code, RUN)).value).toBe('42');
  });

  it('lists files the code created, in /home/user', async () => {
    const output = await env.sandbox.runPython('import os\nprint(os.getcwd())\nopen("report.txt", "w").write("hello")', RUN);
    expect(output.stdout.text).toBe('/home/user\n');
    expect(output.files).toEqual([{ path: '/home/user/report.txt', change: 'created', size: 5 }]);
  });

  it('says why asyncio loops do not run', async () => {
    const output = await env.sandbox.runPython('import asyncio\nasyncio.run(asyncio.sleep(0))', RUN);
    expect(output.error?.name).toBe('RuntimeError');
    expect(output.error?.value).toContain('asyncio event loops');
  });
});

/**
 * On a machine too loaded to answer the interrupt within the grace period the worker is replaced
 * instead: both are correct, and the answer must say which happened. True when it was replaced.
 */
function replacedUnderLoad(output: CellOutput, stop: Record<string, unknown>): boolean {
  if (output.stopped?.kernel !== 'restarted') return false;
  expect(output.stopped).toMatchObject({ files: 'lost', ignoredInterrupt: true, stop });
  expect(cellReport(output).restarted).toContain('A fresh kernel was started');
  return true;
}

describe('pyodide backend: time limits', () => {
  const env = useSandbox();

  it(
    'stops an endless loop at the time limit and keeps the variables',
    async () => {
      await env.sandbox.runPython('before = 7', RUN);
      const output = await env.sandbox.runPython('while True:\n    pass', { ...RUN, timeoutMs: 1500 });
      expect(output.timedOut).toBe(true);
      if (replacedUnderLoad(output, { cause: 'time_limit', limitMs: 1500 })) return;
      expect(output.stopped).toEqual({ kernel: 'kept', files: 'kept', stop: { cause: 'time_limit', limitMs: 1500 } });
      expect(output.error?.name).toBe('KeyboardInterrupt');
      const { error } = cellReport(output);
      expect(error?.name).toBe('TimeoutError');
      expect(error?.value).toContain('1.5 s time limit and was interrupted');
      expect(error?.value).toContain('variables and imports from earlier cells are kept');
      expect(error?.traceback).toMatch(/<cell-\d+>", line 2/);
      expect(error?.traceback).toMatch(/\nTimeoutError: The run exceeded its 1.5 s time limit[^\n]*\n$/);
      const after = await env.sandbox.runPython('before * 6', RUN);
      expect(after).toMatchObject({ value: '42', timedOut: false });
    },
    LOAD,
  );

  it('interrupts time.sleep too', async () => {
    const output = await env.sandbox.runPython('import time\ntime.sleep(30)', { ...RUN, timeoutMs: 1000 });
    expect(output.timedOut).toBe(true);
    if (output.stopped?.kernel === 'restarted') expect(cellReport(output).restarted).toContain('A fresh kernel was started');
    else expect(cellReport(output).error?.name).toBe('TimeoutError');
  });

  it('keeps only keepBytes of an endless print loop and counts the rest', async () => {
    const output = await env.sandbox.runPython('while True:\n    print("spam")', { timeoutMs: 1500, keepBytes: 1000 });
    expect(output.timedOut).toBe(true);
    expect(output.stdout.text).toBe('spam\n'.repeat(200));
    expect(output.stdout.bytes).toBeGreaterThan(100_000);
  });

  it('does not split a character at the cut', async () => {
    const output = await env.sandbox.runPython('print("é" * 10, end="")', { ...RUN, keepBytes: 5 });
    expect(output.stdout).toEqual({ text: 'éé', bytes: 20, chunks: [10] });
  });

  it('stops a run when its signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const output = await env.sandbox.runPython('while True:\n    pass', { ...RUN, signal: controller.signal });
    expect(output.timedOut).toBe(true);
    if (replacedUnderLoad(output, { cause: 'cancelled' })) return;
    expect(output.stopped).toEqual({ kernel: 'kept', files: 'kept', stop: { cause: 'cancelled' } });
    expect(cellReport(output).error?.name).toBe('CancelledError');
    expect(cellReport(output).error?.value).toContain('variables and imports from earlier cells are kept');
  });

  it('stops at once when the signal has already aborted', async () => {
    const output = await env.sandbox.runPython('while True:\n    pass', { ...RUN, signal: AbortSignal.abort() });
    expect(output.timedOut).toBe(true);
    if (!replacedUnderLoad(output, { cause: 'cancelled' })) {
      expect(output).toMatchObject({ stopped: { kernel: 'kept' } });
      expect(cellReport(output)).toMatchObject({ error: { name: 'CancelledError' } });
      expect(cellReport(output).restarted).toBeUndefined();
    }
    expect((await env.sandbox.runPython('1 + 1', RUN)).value).toBe('2');
  });

  it(
    'replaces an interpreter that ignores the interrupt, and says what was lost',
    async () => {
      await env.sandbox.runPython('lost = 1', RUN);
      const code = 'while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass';
      const output = await env.sandbox.runPython(code, { ...RUN, timeoutMs: 1000 });
      expect(output.timedOut).toBe(true);
      expect(output.stopped).toEqual({ kernel: 'restarted', files: 'lost', ignoredInterrupt: true, stop: { cause: 'time_limit', limitMs: 1000 } });
      expect(cellReport(output).restarted).toBe(
        'The run exceeded its 1 s time limit and did not stop when interrupted. A fresh kernel was started: variables and imports are gone, and so are the files in /home/user.',
      );
      const after = await env.sandbox.runPython('"lost" in globals()', RUN);
      expect(after.value).toBe('False');
    },
    LOAD,
  );
});

describe('pyodide backend: files', () => {
  const env = useSandbox();

  it('writes, reads and lists files', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255]);
    expect(await env.sandbox.writeFile('/home/user/data/raw.bin', bytes)).toBe('/home/user/data/raw.bin');
    expect(bytes.byteLength).toBe(4);
    expect(await env.sandbox.readFile('data/raw.bin', 100)).toEqual(bytes);
    const top = await env.sandbox.listFiles('/home/user', false);
    expect(top).toEqual({ entries: [expect.objectContaining({ path: '/home/user/data', type: 'directory' })], omitted: 0 });
    const all = (await env.sandbox.listFiles('/home/user', true)).entries;
    const file = all.find((entry) => entry.path === '/home/user/data/raw.bin');
    expect(file).toMatchObject({ type: 'file', size: 4 });
    expect(Date.parse(file!.modified)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('shares files with the code', async () => {
    await env.sandbox.writeFile('/home/user/in.txt', new TextEncoder().encode('from the host'));
    const output = await env.sandbox.runPython('open("in.txt").read().upper()', RUN);
    expect(output.value).toBe("'FROM THE HOST'");
    await env.sandbox.runPython('open("/home/user/out.txt", "w").write("from python")', RUN);
    expect(new TextDecoder().decode(await env.sandbox.readFile('/home/user/out.txt', 1000))).toBe('from python');
  });

  it('fails clearly on a missing file, a folder and a file too large', async () => {
    expect(await failure(env.sandbox.readFile('/home/user/missing.txt', 10))).toMatchObject({ code: 'not_found' });
    expect(await failure(env.sandbox.readFile('/home/user', 10))).toMatchObject({ code: 'invalid_argument' });
    await env.sandbox.writeFile('big.txt', new Uint8Array(100));
    expect(await failure(env.sandbox.readFile('big.txt', 99))).toMatchObject({ code: 'too_large' });
    expect(await failure(env.sandbox.listFiles('/home/user/nowhere', true))).toMatchObject({ code: 'not_found' });
  });

  it('has no shell', async () => {
    const error = await failure(env.sandbox.runShell('ls', RUN));
    expect(isFathomError(error, 'unavailable')).toBe(true);
    expect((error as Error).message).toContain('no shell');
  });
});

describe('pyodide backend: isolation', () => {
  const env = useSandbox();
  let hostDir: string;
  let server: Server;
  let connections = 0;

  beforeAll(async () => {
    hostDir = mkdtempSync(join(tmpdir(), 'fathom-pyodide-'));
    writeFileSync(join(hostDir, 'secret.txt'), 'host secret');
    server = createServer((socket) => {
      connections++;
      socket.end('HTTP/1.0 200 OK\r\n\r\nreached');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => {
    rmSync(hostDir, { recursive: true, force: true });
    server.close();
  });

  it('cannot see host files', async () => {
    const output = await env.sandbox.runPython(`import os\nos.path.exists(${JSON.stringify(join(hostDir, 'secret.txt'))})`, RUN);
    expect(output.value).toBe('False');
  });

  it('cannot reach the network', async () => {
    const { port } = server.address() as AddressInfo;
    const tcp = await env.sandbox.runPython(`import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=3).recv(100)`, RUN);
    expect(tcp.error).toMatchObject({ name: 'OSError', value: expect.stringContaining('unreachable') });
    expect(tcp.stopped).toBeUndefined();
    const udp = await env.sandbox.runPython(`import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", ${port}))`, RUN);
    expect(udp.error?.name).toBe('OSError');
    const listen = await env.sandbox.runPython('import socket\ns = socket.socket()\ns.bind(("0.0.0.0", 0))\ns.listen()', RUN);
    expect(listen.error?.name).toBe('OSError');
    const http = await env.sandbox.runPython(`import urllib.request\nurllib.request.urlopen("http://127.0.0.1:${port}/", timeout=3).read()`, RUN);
    expect(http.error?.name).toMatch(/Error$/);
    const fetch = await env.sandbox.runPython(`import pyodide.http\npyodide.http.open_url("http://127.0.0.1:${port}/")`, RUN);
    expect(fetch.error).toBeDefined();
    expect(connections).toBe(0);
  });

  it('cannot reach JavaScript globals or the host runtime', async () => {
    const probes = [
      'import js\njs.process',
      'import pyodide_js\npyodide_js.version',
      'from pyodide.ffi import to_js\nto_js([]).constructor.constructor("return process")()',
      'from pyodide.ffi import to_js\nto_js({}).constructor.constructor("return globalThis")()',
    ];
    for (const code of probes) {
      const output = await env.sandbox.runPython(code, RUN);
      expect(output.error, code).toBeDefined();
      expect(output.value, code).toBeUndefined();
    }
  });

  it("sees none of the server's environment", async () => {
    const output = await env.sandbox.runPython('import os\nrepr(dict(os.environ))', RUN);
    expect(output.value).toContain('HOME');
    expect(output.value).not.toContain('SERPER_API_KEY');
    expect(output.value).not.toContain(SERVER_SECRET);
  });

  it('has no subprocesses', async () => {
    const output = await env.sandbox.runPython('import subprocess\nsubprocess.run(["ls"])', RUN);
    expect(output.error?.name).toBe('OSError');
  });
});

describe('pyodide backend: failures', () => {
  const env = useSandbox(256);

  it('turns running out of memory into MemoryError and keeps going', async () => {
    await env.sandbox.runPython('small = 5', RUN);
    const output = await env.sandbox.runPython('big = bytearray(400_000_000)', RUN);
    expect(output.error?.name).toBe('MemoryError');
    expect((await env.sandbox.runPython('small', RUN)).value).toBe('5');
  });

  it(
    'replaces an interpreter that died, and says so',
    async () => {
      await env.sandbox.runPython('doomed = 1\nopen("doomed.txt", "w").write("x")', RUN);
      const output = await env.sandbox.runPython('import os\nos._exit(1)', RUN);
      expect(output.timedOut).toBe(false);
      expect(output.stopped).toMatchObject({ kernel: 'restarted', files: 'lost', stop: { cause: 'died', how: expect.stringContaining('fatal error') } });
      expect(cellReport(output).restarted).toMatch(/^The Python kernel hit a fatal error .* during the run\. A fresh kernel was started: variables and imports are gone, and so are the files in \/home\/user\.$/);
      const after = await env.sandbox.runPython('import os\n"doomed" in globals(), os.path.exists("doomed.txt"), 1 + 1', RUN);
      expect(after.value).toBe('(False, False, 2)');
    },
    LOAD,
  );

  it('refuses calls after close, and the backend closes its sandboxes', async () => {
    const other = await env.backend.create();
    await env.sandbox.close();
    const error = await failure(env.sandbox.runPython('1', RUN));
    expect(isFathomError(error, 'not_found')).toBe(true);
    expect((error as Error).message).toBe('This sandbox is closed');
    expect(await failure(env.sandbox.readFile('/home/user/x', 10))).toMatchObject({ code: 'not_found' });
    await env.backend.close();
    expect(await failure(other.runPython('1', RUN))).toMatchObject({ code: 'not_found' });
    expect(await failure(env.backend.create())).toMatchObject({ code: 'unavailable' });
  }, LOAD);
});
