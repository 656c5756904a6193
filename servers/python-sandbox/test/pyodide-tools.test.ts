import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition } from '../src/server.js';
import { call, connect, newSession, sandboxConfig, testDirs } from './helpers.js';

let connection: InMemoryConnection;

beforeAll(async () => {
  connection = await connect(sandboxConfig(testDirs('fathom-sandbox-pyodide-'), { backend: 'pyodide', 'warm-pool': '1', 'memory-mb': '512' }));
});

afterAll(async () => {
  await connection?.close();
  await definition.shutdown();
});

describe('python-sandbox default tools (pyodide)', () => {
  it('runs Python with state, files and clear limits', async () => {
    const id = await newSession(connection);
    expect(id).toMatch(/^pyo_/);
    await call(connection, 'python_run', { session_id: id, code: 'x = 20\nopen("a.txt", "w").write("pyodide")' });
    const value = await call(connection, 'python_run', { session_id: id, code: 'import statistics\nstatistics.mean([x, 22])' });
    expect(value.structured?.value).toBe('21');
    const read = await call(connection, 'sandbox_read_file', { session_id: id, path: 'a.txt' });
    expect(read.text).toBe('pyodide');
    const numpy = await call(connection, 'python_run', { session_id: id, code: 'import numpy' });
    expect(JSON.stringify(numpy.structured?.error)).toContain('bwrap backend');
    const shell = await call(connection, 'shell_run', { session_id: id, command: 'ls' });
    expect(shell.isError).toBe(true);
    expect(shell.text).toContain('no shell');
  }, 60_000);
});
