import { readFileSync } from 'node:fs';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { definition } from '../../src/server.js';
import { backendId, connect, describeBwrap, pythonValue, runPython, hostStatus, newSession, sandboxConfig, sandboxPids, testDirs } from '../helpers.js';
import type { TestDirs } from '../helpers.js';

/** What the sandbox must never learn: a key in the server's environment, its pid, its folders. */
const SECRET = 'serper-key-that-must-stay-on-the-host';

let connection: InMemoryConnection;
let dirs: TestDirs;
let attacker: string;
let witness: string;
const previousKey = process.env.SERPER_API_KEY;

const run = (session: string, code: string, timeout_s?: number) => runPython(connection, session, code, timeout_s);
const value = (session: string, code: string) => pythonValue(connection, session, code);

async function witnessIsFine(): Promise<void> {
  expect(await value(witness, 'secret_of_witness * 2')).toBe('84');
}

beforeAll(async () => {
  process.env.SERPER_API_KEY = SECRET;
  dirs = testDirs('fathom-sandbox-host-');
  connection = await connect(sandboxConfig(dirs, { 'memory-mb': '512', 'tmp-mb': '256' }));
  attacker = await newSession(connection);
  witness = await newSession(connection);
  await run(witness, 'secret_of_witness = 42');
});

afterAll(async () => {
  if (previousKey === undefined) delete process.env.SERPER_API_KEY;
  else process.env.SERPER_API_KEY = previousKey;
  await connection?.close();
  await definition.shutdown();
});

describeBwrap('python-sandbox against the host (bwrap, as the server runs here)', () => {
  it('runs every sandbox process as an unprivileged host user, without capabilities, under seccomp', async () => {
    await run(attacker, 'import subprocess\nchild = subprocess.Popen(["sleep", "60"])');
    const pids = sandboxPids(attacker);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const pid of pids) {
      const status = hostStatus(pid);
      const [real, effective, saved, filesystem] = status.Uid!.split(/\s+/).map(Number);
      expect([real, effective, saved, filesystem].every((uid) => uid !== 0 && uid === real), `pid ${pid}: Uid ${status.Uid}`).toBe(true);
      expect(status.CapEff, `pid ${pid}`).toBe('0000000000000000');
      expect(status.CapPrm, `pid ${pid}`).toBe('0000000000000000');
      expect(status.NoNewPrivs, `pid ${pid}`).toBe('1');
    }
    // From the host, the sandbox's user namespace maps its uid 1000 onto that unprivileged uid, and nothing onto root.
    const kernel = pids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/usr/bin/python3\0-B\0-s\0/opt/fathom/kernel.py'))!;
    const map = readFileSync(`/proc/${kernel}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
    expect(map[0]).toBe(1000);
    expect(map[1]).not.toBe(0);
    expect(map[2]).toBe(1);
    expect(hostStatus(kernel).Seccomp).toBe('2');
    await run(attacker, 'child.kill(); child.wait()');
    await witnessIsFine();
  });

  it('finds no writable file under /proc or /sys, and cannot change kernel settings', async () => {
    const found = await value(
      attacker,
      [
        'import os',
        'writable = []',
        'for top in ("/proc", "/sys"):',
        '    for root, folders, files in os.walk(top, followlinks=False):',
        '        for name in files:',
        '            path = os.path.join(root, name)',
        // /proc/<pid>/fd/N are links to the process's own open files, not kernel state.
        '            if not os.path.islink(path) and os.access(path, os.W_OK): writable.append(path)',
        'tries = {}',
        'for path in ("/proc/sys/vm/drop_caches", "/proc/self/oom_score_adj"):',
        '    try:',
        '        open(path, "w").write("1"); tries[path] = "WROTE"',
        '    except OSError as error:',
        '        tries[path] = type(error).__name__',
        'writable[:20], len(writable), sorted(set(tries.values()))',
      ].join('\n'),
    );
    expect(found).toMatch(/^\(\[\], 0, \['(OSError|PermissionError)'(, '(OSError|PermissionError)')?\]\)$/);
    await witnessIsFine();
  });

  it('sees no key, no server pid and no host path in /proc/1 or its mounts', async () => {
    const seen = await value(
      attacker,
      'import os\nparts = []\nfor path in ("/proc/1/environ", "/proc/1/cmdline", "/proc/self/environ", "/proc/self/mountinfo", "/proc/self/cmdline"):\n    try:\n        parts.append(open(path, "rb").read().decode("utf8", "replace"))\n    except OSError as error:\n        parts.append(type(error).__name__)\nrepr("\\n".join(parts))',
    );
    expect(seen).not.toContain(SECRET);
    expect(seen).not.toContain('SERPER');
    expect(seen).not.toMatch(new RegExp(`\\b${process.pid}\\b`));
    expect(seen).not.toContain(dirs.base);
    expect(seen).not.toContain(process.cwd());
    expect(seen).not.toContain('fathom-sandbox');
    expect(seen).toContain('/home/user');
    expect(await value(attacker, 'import os\nsorted(k for k in os.environ if "KEY" in k or "TOKEN" in k)')).toBe('[]');
    await witnessIsFine();
  });

  it('cannot reach io_uring, keyrings, ptrace, BPF or new namespaces', async () => {
    const calls = await value(
      attacker,
      [
        'import ctypes, errno, os',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'def attempt(number, *args):',
        '    result = libc.syscall(number, *args)',
        '    return "ALLOWED" if result >= 0 else errno.errorcode[ctypes.get_errno()]',
        'params = ctypes.create_string_buffer(120)',
        'out = {',
        '    "io_uring_setup": attempt(425, 8, params),',
        '    "keyctl": attempt(250, 0, -3, 0),',
        '    "add_key": attempt(248, b"user", b"k", b"v", 1, -3),',
        '    "ptrace": attempt(101, 0x4206, 1, 0, 0),',
        '    "bpf": attempt(321, 0, None, 0),',
        '    "unshare_user": attempt(272, 0x10000000),',
        '    "unshare_mount": attempt(272, 0x00020000),',
        '}',
        'out',
      ].join('\n'),
    );
    expect(calls).toBe(
      "{'io_uring_setup': 'EPERM', 'keyctl': 'EPERM', 'add_key': 'EPERM', 'ptrace': 'EPERM', 'bpf': 'EPERM', 'unshare_user': 'EPERM', 'unshare_mount': 'EPERM'}",
    );
    // What a notebook needs still works: threads, processes, multiprocessing.
    expect(
      await value(
        attacker,
        'import multiprocessing, subprocess, threading\nwith multiprocessing.Pool(2) as pool: squares = pool.map(abs, [-1, -2])\nt = threading.Thread(target=lambda: None); t.start(); t.join()\nsquares, subprocess.run(["echo", "ok"], capture_output=True, text=True).stdout',
      ),
    ).toBe("([1, 2], 'ok\\n')");
    await witnessIsFine();
  });

  it('has a read-only /dev and a bounded /dev/shm', async () => {
    const dev = await value(
      attacker,
      [
        'import errno',
        'out = []',
        'try:',
        '    open("/dev/evil", "w").write("x"); out.append("WROTE /dev")',
        'except OSError as error:',
        '    out.append(errno.errorcode[error.errno])',
        'written = 0',
        'try:',
        '    with open("/dev/shm/fill", "wb") as fill:',
        '        for _ in range(100):',
        '            fill.write(b"0" * (1024 * 1024)); fill.flush(); written += 1',
        'except OSError as error:',
        '    out.append(errno.errorcode[error.errno])',
        'import os; os.remove("/dev/shm/fill")',
        'out, written < 100, open("/dev/null", "w").write("ok")',
      ].join('\n'),
    );
    expect(dev).toBe("(['EROFS', 'ENOSPC'], True, 2)");
    await witnessIsFine();
  });

  it('gets only a small CPU share for background work between calls', async () => {
    await run(attacker, 'import subprocess\nspinner = subprocess.Popen(["python3", "-c", "while True: pass"], start_new_session=True)');
    const accounting = `/sys/fs/cgroup/cpuacct/fathom/${process.pid}-${backendId(attacker)}/cpuacct.usage`;
    const used = () => Number(readFileSync(accounting, 'utf8')) / 1e9;
    const startCpu = used();
    const startWall = Date.now();
    // A rate needs a window: two seconds of wall time, during which the spinner would take a whole CPU if it could.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const share = (used() - startCpu) / ((Date.now() - startWall) / 1000);
    expect(share).toBeLessThan(0.3);
    expect(await value(attacker, 'spinner.kill(); spinner.wait()')).toBe('-9');
    await witnessIsFine();
  });
});
