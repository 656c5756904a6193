import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';

export interface CgroupLimits {
  memoryBytes: number;
  maxProcesses: number;
}

const CPU_PERIOD_US = 100_000;

/**
 * A memory, process-count and CPU limit over every process of one sandbox, through cgroup v1
 * (separate memory, pids and cpu hierarchies) or v2 (one unified group). Processes join by
 * writing their pid to each of `procsFiles` before they start anything.
 */
export class Cgroup {
  private constructor(
    readonly version: 'v1' | 'v2',
    private readonly dirs: string[],
    /** The group that holds the CPU limit, when the cpu controller could be used. */
    private readonly cpuDir: string | undefined,
  ) {}

  private periodSet = false;

  /** Caps the group's processes together at `cores` CPUs (fractions allowed). */
  setCpu(cores: number): void {
    if (!this.cpuDir) return;
    const quota = Math.max(1000, Math.round(cores * CPU_PERIOD_US));
    if (this.version === 'v1') {
      // The period is the kernel's default (100 ms) unless someone changed it: then set it once.
      if (!this.periodSet && read(join(this.cpuDir, 'cpu.cfs_period_us'))?.trim() !== String(CPU_PERIOD_US)) {
        write(join(this.cpuDir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      }
      this.periodSet = true;
      write(join(this.cpuDir, 'cpu.cfs_quota_us'), String(quota));
    } else {
      write(join(this.cpuDir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
    }
  }

  /** CPU time the group's processes have used, in seconds. */
  cpuSeconds(): number {
    if (this.version === 'v1') {
      const accounting = this.dirs.find((dir) => existsSync(join(dir, 'cpuacct.usage')));
      return accounting ? Number(read(join(accounting, 'cpuacct.usage')) ?? 0) / 1e9 : 0;
    }
    const stat = /usage_usec (\d+)/.exec(read(join(this.dirs[0]!, 'cpu.stat')) ?? '');
    return stat ? Number(stat[1]) / 1e6 : 0;
  }

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

  /** Host pids of the group's processes. */
  processes(): number[] {
    return [...new Set(this.procsFiles.flatMap((file) => (read(file) ?? '').split('\n').filter(Boolean).map(Number)))];
  }

  killAll(): void {
    if (this.version === 'v2' && write(join(this.dirs[0]!, 'cgroup.kill'), '1')) return;
    for (const pid of this.processes()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Removes the group once its processes are gone (a few tries: the kernel reaps them asynchronously). */
  async remove(): Promise<void> {
    this.killAll();
    // Every hierarchy at once: each waits for the same processes to be reaped.
    await Promise.all(
      this.dirs.map(async (dir) => {
        for (let attempt = 0; attempt < 80; attempt++) {
          try {
            rmdirSync(dir);
            return;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        }
      }),
    );
  }

  /** A new group named `name` under Fathom's own, or undefined where cgroups cannot be written. */
  static create(name: string, limits: CgroupLimits): Cgroup | undefined {
    return createV1(name, limits) ?? createV2(name, limits);
  }

  /** Which cgroup version this process can use to limit sandboxes, if any. */
  static support(): 'v1' | 'v2' | undefined {
    const probe = Cgroup.create(`${process.pid}-probe`, { memoryBytes: 64 << 20, maxProcesses: 8 });
    if (!probe) return undefined;
    for (const dir of [...probe.dirs].reverse()) {
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
    for (const parent of V1_CONTROLLERS.map((controller) => join(ROOT, controller, 'fathom')).concat(join(ROOT, 'fathom'))) {
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

  static wrap(version: 'v1' | 'v2', dirs: string[], cpuDir?: string): Cgroup {
    return new Cgroup(version, dirs, cpuDir);
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

/** cgroup v1 hierarchies a sandbox joins: the first two are required, the others used where present. */
const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'];

function createV1(name: string, limits: CgroupLimits): Cgroup | undefined {
  if (!existsSync(join(ROOT, 'memory', 'memory.limit_in_bytes')) || !existsSync(join(ROOT, 'pids', 'cgroup.procs'))) return undefined;
  const dirs: string[] = [];
  for (const controller of V1_CONTROLLERS) {
    const dir = join(ROOT, controller, 'fathom', name);
    const own = controller === 'cpuacct' && realName(join(ROOT, 'cpuacct')) === realName(join(ROOT, 'cpu'));
    if (own || !existsSync(join(ROOT, controller, 'cgroup.procs'))) continue;
    try {
      mkdirSync(dir, { recursive: true });
      dirs.push(dir);
    } catch {
      if (controller === 'memory' || controller === 'pids') return undefined;
    }
  }
  const [memory, pids] = dirs;
  const applied =
    write(join(memory!, 'memory.limit_in_bytes'), String(limits.memoryBytes)) && write(join(pids!, 'pids.max'), String(limits.maxProcesses));
  // Where swap accounting exists, swap counts against the same limit.
  write(join(memory!, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
  if (!applied) return undefined;
  const cpu = dirs.find((dir) => dir.startsWith(join(ROOT, 'cpu') + '/') && existsSync(join(dir, 'cpu.cfs_quota_us')));
  return Cgroup.wrap('v1', dirs, cpu);
}

function realName(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
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
  write(join(ROOT, 'cgroup.subtree_control'), '+memory +pids +cpu');
  write(join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu');
  const applied = write(join(dir, 'memory.max'), String(limits.memoryBytes)) && write(join(dir, 'pids.max'), String(limits.maxProcesses));
  write(join(dir, 'memory.swap.max'), '0');
  if (!applied) return undefined;
  return Cgroup.wrap('v2', [dir], existsSync(join(dir, 'cpu.max')) ? dir : undefined);
}
