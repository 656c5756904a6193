import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { definition } from '../../src/server.js';
import { call, connect, describeBwrap, pythonValue, runPython, newSession, sandboxConfig, testDirs } from '../helpers.js';
import type { TestDirs } from '../helpers.js';

let connection: InMemoryConnection;
let dirs: TestDirs;
let web: Server;
let webBase: string;
let witness: string;

const MB = 1024 * 1024;

const run = (session: string, code: string, timeout_s?: number) => runPython(connection, session, code, timeout_s);
const value = (session: string, code: string) => pythonValue(connection, session, code);

async function witnessIsFine(): Promise<void> {
  expect(await value(witness, 'open("mine.txt").read()')).toBe("'witness data'");
}

beforeAll(async () => {
  dirs = testDirs('fathom-sandbox-files-');
  web = createHttpServer((_request, response) => response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.alloc(6 * MB, 7)));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webBase = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  connection = await connect(
    sandboxConfig(dirs, { 'egress-allow': '127.0.0.1', 'disk-mb': '20', 'max-file-mb': '16', 'max-exports': '3', 'max-export-mb': '2' }),
  );
  witness = await newSession(connection);
  await run(witness, 'open("mine.txt", "w").write("witness data")');
});

afterAll(async () => {
  await connection?.close();
  await definition.shutdown();
  web?.close();
});

describeBwrap('python-sandbox file tools against links and limits (bwrap)', () => {
  it('never follows a link the sandbox made to host files', async () => {
    const id = await newSession(connection);
    await run(id, 'import os\nos.symlink("/", "hostlink")\nos.symlink("/etc/shadow", "shadow")');
    const listing = await call(connection, 'sandbox_list_files', { session_id: id, path: 'hostlink/etc' });
    expect(listing.text).not.toContain('shadow');
    expect(listing.text).not.toContain('hostname');
    const through = await call(connection, 'sandbox_list_files', { session_id: id, path: 'hostlink/etc/shadow' });
    expect(through.isError).toBe(true);
    expect(through.text).toContain('/home/user/hostlink/etc/shadow does not exist');
    const shadow = await call(connection, 'sandbox_read_file', { session_id: id, path: 'shadow' });
    expect(shadow.isError).toBe(true);
    expect(shadow.text).toContain('does not exist');
    // What the link reaches is the sandbox's own /etc/passwd, never the host's.
    const passwd = await call(connection, 'sandbox_read_file', { session_id: id, path: 'hostlink/etc/passwd' });
    expect(passwd.text).toContain('user:x:1000:1000');
    expect(passwd.text).not.toContain('daemon:');
    const exported = await call(connection, 'sandbox_export', { session_id: id, path: 'shadow' });
    expect(exported.isError).toBe(true);
    expect(readdirSync(dirs.output).filter((name) => name.includes('shadow'))).toEqual([]);
    await witnessIsFine();
  });

  it('shows no host folder when a folder is swapped for a link during listings', async () => {
    const id = await newSession(connection);
    await run(
      id,
      [
        'import os, subprocess',
        'os.makedirs("swap/real", exist_ok=True)',
        'open("swap/real/inside.txt", "w").write("x")',
        'os.symlink("/etc", "swap/link")',
        'swapper = subprocess.Popen(["python3", "-c", "import os\\nwhile True:\\n    os.rename(\'swap/real\', \'swap/tmp\'); os.rename(\'swap/link\', \'swap/real\'); os.rename(\'swap/real\', \'swap/link\'); os.rename(\'swap/tmp\', \'swap/real\')"], start_new_session=True)',
      ].join('\n'),
    );
    for (let attempt = 0; attempt < 20; attempt++) {
      const listing = await call(connection, 'sandbox_list_files', { session_id: id, path: 'swap', recursive: true });
      expect(listing.text).not.toMatch(/shadow|hostname|machine-id/);
      const read = await call(connection, 'sandbox_read_file', { session_id: id, path: 'swap/real/shadow' });
      expect(read.text).not.toContain('root:');
    }
    await run(id, 'swapper.kill(); swapper.wait()');
    await witnessIsFine();
  });

  it('does not open a host FIFO behind a link', async () => {
    const hostDir = join(dirs.base, 'fifo-dir');
    mkdirSync(hostDir);
    const fifo = join(hostDir, 'pipe');
    await new Promise<void>((resolve, reject) => spawn('mkfifo', [fifo]).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mkfifo ${code}`)))));
    // A writer on the host blocks until someone opens the FIFO for reading.
    const writer = spawn('sh', ['-c', `echo opened > ${fifo}`]);
    const id = await newSession(connection);
    await run(id, `import os\nos.symlink(${JSON.stringify(hostDir)}, "hostdir")`);
    const read = await call(connection, 'sandbox_read_file', { session_id: id, path: 'hostdir/pipe' });
    expect(read.isError).toBe(true);
    expect(read.text).toContain('does not exist');
    expect(writer.exitCode).toBeNull();
    writer.kill('SIGKILL');
    await witnessIsFine();
  });

  it('holds the workspace quota between calls: a background writer stops at the limit', async () => {
    const id = await newSession(connection);
    await run(id, 'import subprocess\nwriter = subprocess.Popen(["sh", "-c", "while true; do head -c 1048576 /dev/zero >> grow.bin || exit 0; done"], start_new_session=True)');
    // No call runs while the writer works: it stops by itself when the file system is full, or grows past the quota.
    const sizeNow = async () => {
      const listing = await call(connection, 'sandbox_list_files', { session_id: id, path: 'grow.bin' });
      const shown = /grow\.bin {2}([\d.]+) (B|KB|MB)/.exec(listing.text);
      return shown ? Number(shown[1]) * { B: 1, KB: 1024, MB: MB }[shown[2] as 'B' | 'KB' | 'MB'] : 0;
    };
    let size = 0;
    let steady = 0;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && steady < 5 && size <= 40 * MB; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const next = await sizeNow();
      steady = next === size && next > 0 ? steady + 1 : 0;
      size = next;
    }
    expect(size).toBeGreaterThan(10 * MB);
    expect(size).toBeLessThanOrEqual(20 * MB);
    // Writes the server makes for the sandbox meet the same limit.
    const write = await call(connection, 'sandbox_write_file', { session_id: id, path: 'more.bin', content: Buffer.alloc(4 * MB, 1).toString('base64'), encoding: 'base64' });
    expect(write.isError).toBe(true);
    expect(write.text).toContain('The workspace is full: it holds at most 20 MB');
    const download = await call(connection, 'sandbox_download_url', { session_id: id, url: `${webBase}/big.bin` });
    expect(download.isError).toBe(true);
    expect(download.text).toContain('The workspace is full');
    expect(await value(id, 'import os\nsorted(name for name in os.listdir() if not name.startswith("."))')).toBe("['grow.bin']");
    await run(id, 'writer.kill()\nos.remove("grow.bin")');
    const after = await call(connection, 'sandbox_write_file', { session_id: id, path: 'more.bin', content: Buffer.alloc(4 * MB, 1).toString('base64'), encoding: 'base64' });
    expect(after.text).toBe('Wrote 4.0 MB to /home/user/more.bin');
    await witnessIsFine();
  });

  it('caps exports by count and total size, sparse files included', async () => {
    const id = await newSession(connection);
    await run(id, 'import os\nfor i in range(4): open(f"small-{i}.txt", "w").write("x")\nwith open("sparse.bin", "wb") as f: f.truncate(3 * 1024 * 1024)');
    const sparse = await call(connection, 'sandbox_export', { session_id: id, path: 'sparse.bin' });
    expect(sparse.isError).toBe(true);
    expect(sparse.text).toContain('does not fit in what this sandbox may still export');
    for (let i = 0; i < 3; i++) expect((await call(connection, 'sandbox_export', { session_id: id, path: `small-${i}.txt` })).isError).toBe(false);
    const fourth = await call(connection, 'sandbox_export', { session_id: id, path: 'small-3.txt' });
    expect(fourth.isError).toBe(true);
    expect(fourth.text).toContain('already exported 3 files');
    const bytesOnHost = readdirSync(dirs.output).reduce((total, name) => total + statSync(join(dirs.output, name)).size, 0);
    expect(bytesOnHost).toBeLessThan(2 * MB);
    await witnessIsFine();
  });

  it('says an export name is too long, and lists at most 5,000 entries saying how many were left out', async () => {
    const id = await newSession(connection);
    await run(id, 'open("a.txt", "w").write("a")');
    const long = await call(connection, 'sandbox_export', { session_id: id, path: 'a.txt', name: `${'é'.repeat(150)}.txt` });
    expect(long.isError).toBe(true);
    expect(long.text).toContain('The name is 304 bytes long; a file name can be at most 200 bytes');
    // In the private /tmp: more files than the small test workspace has inodes for.
    await run(id, 'import os\nos.makedirs("/tmp/many")\nfor i in range(20000): open(f"/tmp/many/f{i:05}", "w").close()');
    const listing = await call(connection, 'sandbox_list_files', { session_id: id, path: '/tmp/many' });
    const lines = listing.text.split('\n');
    expect(lines.filter((line) => line.startsWith('/tmp/many/'))).toHaveLength(5000);
    expect(lines.at(-1)).toBe('[note] Only the first 5,000 entries are listed; 15,000 more were not shown. List a subfolder, or list without recursive, to see the rest.');
    await witnessIsFine();
  });
});
