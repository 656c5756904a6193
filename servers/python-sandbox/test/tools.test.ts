import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { outputChecker } from '../../../tests/outputs.js';
import { definition } from '../src/server.js';
import { call, connect, describeBwrap, newSession, sandboxConfig, testDirs } from './helpers.js';
import type { TestDirs } from './helpers.js';
import { SERVER_TOOLS } from '../../../tests/helpers.js';

let dirs: TestDirs;
let connection: InMemoryConnection;
let web: Server;
let webBase: string;

beforeAll(async () => {
  dirs = testDirs('fathom-sandbox-tools-');
  writeFileSync(join(dirs.roots, 'data.csv'), 'a,b\n1,2\n3,4\n');
  web = createHttpServer((request, response) => {
    if (request.url === '/table.csv') {
      response.writeHead(200, { 'content-type': 'text/csv' }).end('x,y\n5,6\n');
    } else {
      response.writeHead(404).end('missing');
    }
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webBase = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  // The test's own web server is on loopback: allow exactly that host.
  connection = await connect(sandboxConfig(dirs, { 'egress-allow': '127.0.0.1', 'max-output-chars': '2000' }));
});

afterAll(async () => {
  await connection?.close();
  await definition.shutdown();
  web?.close();
});

describeBwrap('python-sandbox default tools (bwrap)', () => {
  it('lists the default tool set', async () => {
    const { tools } = await connection.client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(SERVER_TOOLS['python-sandbox']);
    const run = tools.find((tool) => tool.name === 'python_run')!;
    expect(run.outputSchema).toBeDefined();
    expect(run.annotations?.readOnlyHint).toBe(false);
  });

  it('answers every data tool with structuredContent that validates against the outputSchema it advertises', async () => {
    const checker = await outputChecker(connection.client);
    const created = await checker.call('python_create_session', {});
    const id = String(created.structuredContent?.session_id);
    await checker.call('python_run', { session_id: id, code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint("x" * 5000)\n1 + 1' });
    await checker.call('python_run', { session_id: id, code: 'raise ValueError("no")' });
    await checker.call('shell_run', { session_id: id, command: 'echo hi; echo oops >&2; exit 2' });
    await checker.call('sandbox_write_file', { session_id: id, path: 'notes.txt', content: 'hello\n'.repeat(200) });
    await checker.call('sandbox_write_file', { session_id: id, path: 'blob.bin', content: Buffer.from([0, 1, 2]).toString('base64'), encoding: 'base64' });
    await checker.call('sandbox_read_file', { session_id: id, path: 'notes.txt', max_chars: 500 });
    await checker.call('sandbox_read_file', { session_id: id, path: 'blob.bin' });
    await checker.call('python_run', { session_id: id, code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig("plot.png")' });
    const image = await checker.call('sandbox_read_file', { session_id: id, path: 'plot.png' });
    expect(image.structuredContent).toMatchObject({ encoding: 'image', mime_type: 'image/png' });
    await checker.call('sandbox_list_files', { session_id: id, recursive: true });
    await checker.call('python_run', { session_id: id, code: 'import os\nos.makedirs("empty", exist_ok=True)' });
    const empty = await checker.call('sandbox_list_files', { session_id: id, path: 'empty' });
    expect(empty.structuredContent).toEqual({ path: 'empty', entries: [], omitted: 0, incomplete: false });
    await checker.call('sandbox_upload', { session_id: id, local_path: 'data.csv' });
    await checker.call('sandbox_download_url', { session_id: id, url: `${webBase}/table.csv` });
    const exported = await checker.call('sandbox_export', { session_id: id, path: 'notes.txt' });
    expect(existsSync(String(exported.structuredContent?.path))).toBe(true);
    const closed = await checker.call('python_close_session', { session_id: id });
    expect(closed.structuredContent).toEqual({ session_id: id, closed: true });
    expect((await checker.call('python_close_session', { session_id: id })).structuredContent).toEqual({ session_id: id, closed: false });
    expect(checker.unchecked()).toEqual([]);
  });

  it('keeps state between runs and returns stdout, stderr, the last value and errors', async () => {
    const id = await newSession(connection);
    expect(id).toMatch(/^sbx_[0-9a-f]{20}$/);
    const first = await call(connection, 'python_run', { session_id: id, code: 'x = 41\nprint("hello")\nimport sys; print("warn", file=sys.stderr)' });
    expect(first.isError).toBe(false);
    expect(first.structured).toMatchObject({ stdout: 'hello\n', stderr: 'warn\n', timed_out: false, files: [] });
    const second = await call(connection, 'python_run', { session_id: id, code: 'x + 1' });
    expect(second.structured?.value).toBe('42');
    expect(second.text).toContain('[result] 42');
    const failed = await call(connection, 'python_run', { session_id: id, code: 'def f():\n    return 1 / 0\nf()' });
    expect(failed.isError).toBe(false);
    expect(failed.structured?.error).toMatchObject({ name: 'ZeroDivisionError', value: 'division by zero' });
    expect(failed.text).toContain('File "<cell-3>", line 2, in f');
    const syntax = await call(connection, 'python_run', { session_id: id, code: 'def broken(:' });
    expect(syntax.structured?.error).toMatchObject({ name: 'SyntaxError' });
    const exited = await call(connection, 'python_run', { session_id: id, code: 'import sys\nsys.exit(3)' });
    expect(exited.structured?.error).toMatchObject({ name: 'SystemExit', value: '3' });
    const still = await call(connection, 'python_run', { session_id: id, code: 'x' });
    expect(still.structured?.value).toBe('41');
  });

  it('uses numpy, pandas, scipy and sympy, and returns matplotlib figures as PNG images', async () => {
    const id = await newSession(connection);
    const science = await call(connection, 'python_run', {
      session_id: id,
      code: 'import numpy as np, pandas as pd, scipy.stats as st, sympy as sp\n' + '(int(np.arange(10).sum()), pd.DataFrame({"a": [1, 2]}).a.sum(), round(st.norm.cdf(0), 2), str(sp.factor(sp.Symbol("x")**2 - 1)))',
    });
    expect(science.structured?.value).toBe("(45, 3, 0.5, '(x - 1)*(x + 1)')");
    const plot = await call(connection, 'python_run', { session_id: id, code: 'import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title("squares")' });
    expect(plot.images).toEqual(['image/png']);
    expect(plot.structured?.figures).toBe(1);
  });

  it("has the packages of E2B's code-interpreter image that setup-system.sh installs from Debian", async () => {
    const id = await newSession(connection);
    const fitted = await call(connection, 'python_run', {
      session_id: id,
      code:
        'import requests, sklearn.linear_model as lm\n' +
        'import bs4, openpyxl, xlrd, docx, seaborn, PIL, pytz, joblib, imageio, soundfile, xarray, nltk, aiohttp, pytest\n' +
        '(requests.Request("GET", "https://example.org/a", params={"q": "x y"}).prepare().url, round(float(lm.LinearRegression().fit([[0], [1], [2]], [1, 3, 5]).coef_[0]), 6))',
    });
    expect(fitted.structured?.error).toBeUndefined();
    expect(fitted.structured?.value).toBe("('https://example.org/a?q=x+y', 2.0)");
  });

  it('says after a traceback of a failed connection or name lookup that the sandbox has no network, and names sandbox_download_url', async () => {
    const id = await newSession(connection);
    const note = '[note] The sandbox has no network access: fetch the file with sandbox_download_url instead, then read it from /home/user.';
    for (const code of [
      'import requests\nrequests.get("http://127.0.0.1:9/data.csv")',
      'import urllib.request\nurllib.request.urlopen("http://127.0.0.1:9/data.csv")',
      'import socket\nsocket.getaddrinfo("data.example", 443)',
    ]) {
      const failed = await call(connection, 'python_run', { session_id: id, code });
      expect(failed.structured?.error, code).toBeDefined();
      expect(failed.text.endsWith(`\n${note}`), code).toBe(true);
      expect(failed.text.split(note).length, code).toBe(2);
    }
    for (const code of ['open("missing.csv")', 'raise ConnectionResetError("by the peer")', '1/0']) {
      const failed = await call(connection, 'python_run', { session_id: id, code });
      expect(failed.structured?.error, code).toBeDefined();
      expect(failed.text, code).not.toContain('no network');
    }
  });

  it('reports files the code creates and reads, writes and lists files', async () => {
    const id = await newSession(connection);
    const made = await call(connection, 'python_run', { session_id: id, code: 'open("out.txt", "w").write("result: 7")' });
    expect(made.structured?.files).toEqual([{ path: '/home/user/out.txt', change: 'created', size: 9 }]);
    const written = await call(connection, 'sandbox_write_file', { session_id: id, path: 'notes/a.md', content: '# Title\nbody' });
    expect(written.text).toBe('Wrote 12 B to /home/user/notes/a.md');
    const read = await call(connection, 'sandbox_read_file', { session_id: id, path: '/home/user/notes/a.md' });
    expect(read.text).toBe('# Title\nbody');
    const listed = await call(connection, 'sandbox_list_files', { session_id: id, recursive: true });
    expect(listed.text).toContain('/home/user/notes/a.md  12 B');
    expect(listed.text).toContain('/home/user/out.txt  9 B');
    await call(connection, 'sandbox_write_file', { session_id: id, path: 'blob.bin', content: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64' });
    const blob = await call(connection, 'sandbox_read_file', { session_id: id, path: 'blob.bin' });
    expect(blob.text).toContain(Buffer.from([0, 1, 2, 255]).toString('base64'));
    await call(connection, 'python_run', { session_id: id, code: 'import matplotlib.pyplot as plt\nplt.plot([1,2])\nplt.savefig("fig.png")\nplt.close("all")' });
    const image = await call(connection, 'sandbox_read_file', { session_id: id, path: 'fig.png' });
    expect(image.images).toEqual(['image/png']);
    const missing = await call(connection, 'sandbox_read_file', { session_id: id, path: 'nope.txt' });
    expect(missing.isError).toBe(true);
    expect(missing.text).toContain('does not exist');
    // File tools see what the sandbox sees: the host's /etc/hostname is not there.
    const outside = await call(connection, 'sandbox_read_file', { session_id: id, path: '/etc/hostname' });
    expect(outside.isError).toBe(true);
    expect(outside.text).toContain('/etc/hostname does not exist');
  });

  it('runs shell commands with their exit code', async () => {
    const id = await newSession(connection);
    const ok = await call(connection, 'shell_run', { session_id: id, command: 'echo "$HOME"; pwd; whoami' });
    expect(ok.structured).toMatchObject({ exit_code: 0, stdout: '/home/user\n/home/user\nuser\n', timed_out: false });
    const failing = await call(connection, 'shell_run', { session_id: id, command: 'echo oops >&2; exit 3' });
    expect(failing.structured).toMatchObject({ exit_code: 3, stderr: 'oops\n' });
    const slow = await call(connection, 'shell_run', { session_id: id, command: 'sleep 30', timeout_s: 1 });
    expect(slow.structured).toMatchObject({ timed_out: true });
    const after = await call(connection, 'python_run', { session_id: id, code: '6 * 7' });
    expect(after.structured?.value).toBe('42');
  });

  it('stops code at its time limit, restarts the kernel and keeps the files', async () => {
    const id = await newSession(connection);
    await call(connection, 'python_run', { session_id: id, code: 'kept = 1\nopen("keep.txt", "w").write("still here")' });
    const stuck = await call(connection, 'python_run', { session_id: id, code: 'print("started", flush=True)\nwhile True: pass', timeout_s: 1 });
    expect(stuck.isError).toBe(false);
    expect(stuck.structured).toMatchObject({ timed_out: true, stdout: 'started\n' });
    expect(String(stuck.structured?.restarted)).toContain('1 s time limit');
    expect(String(stuck.structured?.restarted)).toContain('variables and imports are gone');
    const lost = await call(connection, 'python_run', { session_id: id, code: 'kept' });
    expect(lost.structured?.error).toMatchObject({ name: 'NameError' });
    const file = await call(connection, 'python_run', { session_id: id, code: 'open("keep.txt").read()' });
    expect(file.structured?.value).toBe("'still here'");
  });

  it('cuts long output to the budget and keeps all of it in the workspace', async () => {
    const id = await newSession(connection);
    const flood = await call(connection, 'python_run', { session_id: id, code: 'for i in range(100000): print(f"line {i}")' });
    const saved = flood.structured?.saved_output as string[];
    expect(saved).toHaveLength(1);
    expect(flood.text).toContain('characters omitted');
    expect(flood.text).toContain('line 99999');
    expect(String(flood.structured?.stdout).length).toBeLessThan(2200);
    const check = await call(connection, 'python_run', { session_id: id, code: `t = open(${JSON.stringify(saved[0])}).read()\n(len(t.splitlines()), t.splitlines()[-1])` });
    expect(check.structured?.value).toBe("(100000, 'line 99999')");
  });

  it('uploads from the allowed folders, downloads URLs and exports files', async () => {
    const id = await newSession(connection);
    const up = await call(connection, 'sandbox_upload', { session_id: id, local_path: join(dirs.roots, 'data.csv') });
    expect(up.text).toBe('Uploaded ' + join(dirs.roots, 'data.csv') + ' to /home/user/data.csv (12 B)');
    const refused = await call(connection, 'sandbox_upload', { session_id: id, local_path: '/etc/passwd' });
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain('outside the folders');
    const down = await call(connection, 'sandbox_download_url', { session_id: id, url: `${webBase}/table.csv`, sandbox_path: '/home/user/in/' });
    expect(down.isError).toBe(false);
    expect(down.text).toContain('to /home/user/in/table.csv (8 B, text/csv)');
    const sum = await call(connection, 'python_run', { session_id: id, code: 'import pandas as pd\nint(pd.read_csv("data.csv").a.sum() + pd.read_csv("in/table.csv").x.sum())' });
    expect(sum.structured?.value).toBe('9');
    const notFound = await call(connection, 'sandbox_download_url', { session_id: id, url: `${webBase}/nothing` });
    expect(notFound.isError).toBe(true);
    expect(notFound.text).toContain('HTTP 404');
    await call(connection, 'python_run', { session_id: id, code: 'open("report.txt", "w").write("done")' });
    const exported = await call(connection, 'sandbox_export', { session_id: id, path: 'report.txt' });
    const local = /^Exported report\.txt to (.+) \(4 B\)$/.exec(exported.text)?.[1];
    expect(local).toMatch(new RegExp(`^${dirs.output}/sandbox_[0-9a-f]{12}_report\\.txt$`));
    expect(local).not.toContain(id.slice(4));
    expect(readFileSync(local!, 'utf8')).toBe('done');
  });

  it('closes sessions, and says so when a session is unknown', async () => {
    const id = await newSession(connection);
    const closed = await call(connection, 'python_close_session', { session_id: id });
    expect(closed.text).toBe(`Closed session ${id}.`);
    const gone = await call(connection, 'python_run', { session_id: id, code: '1' });
    expect(gone.isError).toBe(true);
    expect(gone.text).toContain('No sandbox with id');
    expect(gone.text).toContain('create a new one');
    expect(existsSync(join(dirs.state, id))).toBe(false);
  });

  it('refuses a session beyond the cap, with a way out', async () => {
    const capped = await connect(sandboxConfig(dirs, { 'max-live-sessions': '2', 'warm-pool': '0' }));
    const ids: string[] = [];
    let refusal = '';
    for (let i = 0; i < 6 && !refusal; i++) {
      const created = await call(capped, 'python_create_session', {});
      if (created.isError) refusal = created.text;
      else ids.push(String(created.structured?.session_id));
    }
    expect(refusal).toContain('sandboxes this server allows are in use');
    expect(refusal).toContain('Close a sandbox');
    expect(ids).toHaveLength(2);
    for (const id of ids) await call(capped, 'python_close_session', { session_id: id });
    expect((await call(capped, 'python_create_session', {})).isError).toBe(false);
    await capped.close();
  });

  it('runs with a state folder under a private one (a root server then binds workspaces from the temp folder)', async () => {
    const hidden = mkdtempSync(join(tmpdir(), 'fathom-private-'));
    chmodSync(hidden, 0o700);
    const privateState = await connect(sandboxConfig(dirs, { 'state-dir': join(hidden, 'state'), 'warm-pool': '0' }));
    const id = await newSession(privateState);
    const written = await call(privateState, 'python_run', { session_id: id, code: 'open("x.txt", "w").write("kept")\nopen("x.txt").read()' });
    expect(written.structured?.value).toBe("'kept'");
    expect((await call(privateState, 'sandbox_read_file', { session_id: id, path: 'x.txt' })).text).toBe('kept');
    await privateState.close();
    rmSync(hidden, { recursive: true, force: true });
  });
});
