import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';

export interface CgroupLimits {
  memoryBytes: number;
  maxProcesses: number;
}

/**
 * A memory and process-count limit over every process of one sandbox, through cgroup v1
 * (separate memory and pids hierarchies) or v2 (one unified group). Processes join by writing
 * their pid to each of `procsFiles` before they start anything.
 */
export class Cgroup {
  private constructor(
    readonly version: 'v1' | 'v2',
    private readonly dirs: string[],
  ) {}

  get procsFiles(): string[] {
    return this.dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Out-of-memory kills so far, to tell an OOM death from another one. */
  oomKills(): number {
    const file = this.version === 'v1' ? join(this.dirs[0]!, 'memory.oom_control') : join(this.dirs[0]!, 'memory.events');
    const match = /oom_kill (\d+)/.exec(read(file) ?? '');
    return match ? Number(match[1]) : 0;
  }

  memoryUsage(): number {
    return Number(read(join(this.dirs[0]!, this.version === 'v1' ? 'memory.usage_in_bytes' : 'memory.current')) ?? 0);
  }

  killAll(): void {
    if (this.version === 'v2' && write(join(this.dirs[0]!, 'cgroup.kill'), '1')) return;
    for (const file of this.procsFiles) {
      for (const pid of (read(file) ?? '').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /** Removes the group once its processes are gone (a few tries: the kernel reaps them asynchronously). */
  async remove(): Promise<void> {
    this.killAll();
    for (const dir of this.dirs) {
      for (let attempt = 0; attempt < 80; attempt++) {
        try {
          rmdirSync(dir);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      }
    }
  }

  /** A new group named `name` under Fathom's own, or undefined where cgroups cannot be written. */
  static create(name: string, limits: CgroupLimits): Cgroup | undefined {
    return createV1(name, limits) ?? createV2(name, limits);
  }

  /** Which cgroup version this process can use to limit sandboxes, if any. */
  static support(): 'v1' | 'v2' | undefined {
    const probe = Cgroup.create(`${process.pid}-probe`, { memoryBytes: 64 << 20, maxProcesses: 8 });
    if (!probe) return undefined;
    for (const dir of probe.dirs) {
      try {
        rmdirSync(dir);
      } catch {
        // left for the next start's sweep
      }
    }
    return probe.version;
  }

  /** Removes groups left by Fathom servers that died without cleaning up (names start with their pid). */
  static sweep(): void {
    for (const parent of [join(ROOT, 'memory', 'fathom'), join(ROOT, 'pids', 'fathom'), join(ROOT, 'fathom')]) {
      let names: string[];
      try {
        names = readdirSync(parent);
      } catch {
        continue;
      }
      for (const name of names) {
        const pid = Number(name.split('-')[0]);
        if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
        try {
          rmdirSync(join(parent, name));
        } catch {
          // still holds a process; left alone
        }
      }
    }
  }

  static wrap(version: 'v1' | 'v2', dirs: string[]): Cgroup {
    return new Cgroup(version, dirs);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function write(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

function createV1(name: string, limits: CgroupLimits): Cgroup | undefined {
  const memory = join(ROOT, 'memory', 'fathom', name);
  const pids = join(ROOT, 'pids', 'fathom', name);
  if (!existsSync(join(ROOT, 'memory', 'memory.limit_in_bytes')) || !existsSync(join(ROOT, 'pids'))) return undefined;
  try {
    mkdirSync(memory, { recursive: true });
    mkdirSync(pids, { recursive: true });
  } catch {
    return undefined;
  }
  const applied =
    write(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes)) && write(join(pids, 'pids.max'), String(limits.maxProcesses));
  // Where swap accounting exists, swap counts against the same limit.
  write(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
  if (!applied) return undefined;
  return Cgroup.wrap('v1', [memory, pids]);
}

function createV2(name: string, limits: CgroupLimits): Cgroup | undefined {
  if (!existsSync(join(ROOT, 'cgroup.controllers'))) return undefined;
  const parent = join(ROOT, 'fathom');
  const dir = join(parent, name);
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    return undefined;
  }
  write(join(ROOT, 'cgroup.subtree_control'), '+memory +pids');
  write(join(parent, 'cgroup.subtree_control'), '+memory +pids');
  const applied = write(join(dir, 'memory.max'), String(limits.memoryBytes)) && write(join(dir, 'pids.max'), String(limits.maxProcesses));
  write(join(dir, 'memory.swap.max'), '0');
  if (!applied) return undefined;
  return Cgroup.wrap('v2', [dir]);
}
