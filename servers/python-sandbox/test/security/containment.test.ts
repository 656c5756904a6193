import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { definition } from '../../src/server.js';
import { call, connect, describeBwrap, newSession, sandboxConfig, testDirs } from '../helpers.js';
import type { TestDirs } from '../helpers.js';

let connection: InMemoryConnection;
let dirs: TestDirs;
let loopback: Server;
let loopbackPort: number;
let loopbackHits = 0;

/** A session that attacks, and a witness session that must not notice. */
let attacker: string;
let witness: string;

async function run(session: string, code: string, timeout_s = 10) {
  return call(connection, 'python_run', { session_id: session, code, timeout_s });
}

async function witnessIsFine(): Promise<void> {
  const check = await run(witness, 'secret_of_witness * 2');
  expect(check.structured?.value).toBe('84');
}

beforeAll(async () => {
  dirs = testDirs('fathom-sandbox-security-');
  loopback = createNetServer((socket) => {
    loopbackHits++;
    socket.end('hello from the host\n');
  });
  await new Promise<void>((resolve) => loopback.listen(0, '127.0.0.1', resolve));
  loopbackPort = (loopback.address() as AddressInfo).port;
  connection = await connect(
    sandboxConfig(dirs, { 'memory-mb': '256', 'max-processes': '64', 'disk-mb': '20', 'max-file-mb': '8', 'max-output-chars': '2000' }),
  );
  attacker = await newSession(connection);
  witness = await newSession(connection);
  await run(witness, 'secret_of_witness = 42\nopen("witness-secret.txt", "w").write("witness data")');
});

afterAll(async () => {
  await connection?.close();
  await definition.shutdown();
  loopback?.close();
});

describeBwrap('python-sandbox containment (bwrap)', () => {
  it('cannot read host files: /etc/shadow, the home folder, the project', async () => {
    const attempt = await run(
      attacker,
      'import os\nresults = {}\nfor p in ["/etc/shadow", "/root/.bashrc", os.path.expanduser("~root"), ' +
        JSON.stringify(process.cwd() + '/package.json') +
        ']:\n    try:\n        open(p).read(); results[p] = "READ"\n    except Exception as e:\n        results[p] = type(e).__name__\nsorted(set(results.values())), sorted(os.listdir("/"))',
    );
    expect(attempt.structured?.value).toBe("(['FileNotFoundError'], ['bin', 'dev', 'etc', 'home', 'lib', 'lib64', 'opt', 'proc', 'sbin', 'tmp', 'usr'])");
    await witnessIsFine();
  });

  it('cannot write outside its workspace', async () => {
    const attempt = await run(
      attacker,
      'import errno\nout = []\nfor p in ["/usr/evil", "/etc/evil", "/evil", "/opt/fathom/kernel.py"]:\n    try:\n        open(p, "w").write("x"); out.append("WROTE " + p)\n    except OSError as e:\n        out.append(errno.errorcode[e.errno])\nout',
    );
    expect(attempt.structured?.value).not.toContain('WROTE');
    expect(String(attempt.structured?.value)).toMatch(/EROFS|EACCES|EPERM/);
  });

  it('cannot open network connections, not even to the host loopback', async () => {
    const attempt = await run(
      attacker,
      `import socket\nout = []\nfor host in ["127.0.0.1", "10.0.0.1", "169.254.169.254"]:\n    s = socket.socket(); s.settimeout(2)\n    try:\n        s.connect((host, ${loopbackPort})); out.append("CONNECTED")\n    except OSError as e:\n        out.append(type(e).__name__)\ntry:\n    socket.getaddrinfo("example.com", 80); out.append("RESOLVED")\nexcept OSError as e:\n    out.append(type(e).__name__)\nout`,
    );
    expect(attempt.structured?.value).not.toContain('CONNECTED');
    expect(attempt.structured?.value).not.toContain('RESOLVED');
    expect(loopbackHits).toBe(0);
  });

  it('survives a fork bomb: the process limit holds, the call is stopped, other sessions go on', async () => {
    const bomb = await run(attacker, 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass', 3);
    expect(bomb.isError).toBe(false);
    expect(bomb.structured?.timed_out).toBe(true);
    expect(String(bomb.structured?.restarted)).toContain('fresh kernel');
    await witnessIsFine();
    const after = await run(attacker, '1 + 1');
    expect(after.structured?.value).toBe('2');
  });

  it('survives a memory bomb: the memory limit kills it and says so', async () => {
    const bomb = await run(attacker, 'blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))', 20);
    expect(bomb.isError).toBe(false);
    const said = `${String(bomb.structured?.restarted ?? '')} ${JSON.stringify(bomb.structured?.error ?? '')}`;
    expect(said).toMatch(/256 MB of memory|MemoryError/);
    const next = await run(attacker, '1');
    expect(next.text).toBe('[result] 1');
    await witnessIsFine();
  });

  it('cannot fill the disk: per-file and workspace limits', async () => {
    const big = await run(attacker, 'open("big.bin", "wb").write(b"0" * (9 * 1024 * 1024))');
    expect(big.structured?.error).toMatchObject({ name: 'OSError' });
    expect(JSON.stringify(big.structured?.error)).toContain('File too large');
    const many = await run(attacker, 'import os\ni = 0\nwhile True:\n    open(f"fill-{i}.bin", "wb").write(os.urandom(4 * 1024 * 1024)); i += 1', 30);
    expect(many.structured?.error).toMatchObject({ name: 'OSError' });
    expect(JSON.stringify(many.structured?.error)).toContain('No space left on device');
    await run(attacker, 'import glob, os\nfor f in glob.glob("fill-*.bin") + glob.glob("big.bin"): os.remove(f)');
    await witnessIsFine();
  });

  it('survives a kernel that kills itself, and signals cannot reach host processes', async () => {
    const suicide = await run(attacker, 'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)');
    expect(String(suicide.structured?.restarted)).toContain('was killed by SIGKILL');
    const signals = await run(
      attacker,
      `import os, signal\nout = []\nfor pid in [${process.pid}, 1]:\n    try:\n        os.kill(pid, signal.SIGTERM); out.append("SENT")\n    except OSError as e:\n        out.append(type(e).__name__)\nout`,
    );
    expect(String(signals.structured?.value)).toMatch(/^\['ProcessLookupError', '(PermissionError|SENT)'\]$/);
    expect(process.pid).toBeGreaterThan(0);
    await witnessIsFine();
  });

  it("cannot see another session's files or processes", async () => {
    const look = await run(
      attacker,
      'import os, glob\nfound = [p for top in ["/home", "/tmp", "/opt", "/etc"] for p in glob.glob(top + "/**/witness-secret.txt", recursive=True)]\ncmds = []\nfor pid in os.listdir("/proc"):\n    if pid.isdigit():\n        try: cmds.append(open(f"/proc/{pid}/cmdline").read().split("\\0")[0])\n        except OSError: pass\nfound, os.listdir("/home"), any("node" in c for c in cmds), len(cmds) < 10, os.path.exists(' + JSON.stringify(dirs.state) + ')',
    );
    expect(look.structured?.value).toBe("([], ['user'], False, True, False)");
  });

  it('stops code that never returns and floods of output', async () => {
    const sleeper = await run(attacker, 'import time\ntime.sleep(1000)', 1);
    expect(sleeper.structured?.timed_out).toBe(true);
    const flood = await run(attacker, 'import sys\nwhile True: sys.stdout.write("x" * 65536)', 2);
    expect(flood.structured?.timed_out).toBe(true);
    expect(String(flood.structured?.stdout).length).toBeLessThan(2200);
    await witnessIsFine();
  });
});

describeBwrap('python-sandbox kernel protocol abuse (bwrap)', () => {
  it('survives code that closes or writes into the kernel pipes', async () => {
    const garbage = await run(attacker, 'import os\nfor fd in range(3, 1024):\n    try:\n        os.write(fd, b"not json\\n")\n    except OSError:\n        pass', 3);
    expect(garbage.isError).toBe(false);
    const closed = await run(attacker, 'import os\nos.closerange(3, 1024)', 3);
    expect(String(closed.structured?.restarted)).toContain('fresh kernel');
    expect((await run(attacker, '2 + 2')).structured?.value).toBe('4');
    await witnessIsFine();
  });
});
