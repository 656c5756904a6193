/**
 * The seccomp filter every sandbox process runs under: a classic BPF program (the form bwrap's
 * `--seccomp FD` takes) that refuses the system calls a notebook never needs and that widen the
 * kernel's attack surface: io_uring, keyrings, ptrace, BPF, perf, module loading, mounts,
 * namespaces (nested user namespaces included), kexec, clock setting. Refused calls fail with
 * EPERM (clone3 with ENOSYS, so the C library falls back to clone, whose flags are checked).
 */

const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

/** struct seccomp_data: nr at 0, arch at 4, args[0] (low half on little-endian machines) at 16. */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0 = 16;

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME */
const CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

interface ArchTable {
  audit: number;
  /** Syscall numbers at or above this are another ABI on the same arch (x32): refused. */
  abiLimit?: number;
  clone: number;
  clone3: number;
  refused: Record<string, number>;
}

const COMMON_NEW = {
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
  open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
  pidfd_getfd: 438, mount_setattr: 442, quotactl_fd: 443,
};

const ARCHES: Record<string, ArchTable> = {
  x64: {
    audit: 0xc000003e,
    abiLimit: 0x40000000,
    clone: 56,
    clone3: 435,
    refused: {
      ...COMMON_NEW,
      ptrace: 101, syslog: 103, uselib: 134, vhangup: 153, pivot_root: 155, adjtimex: 159, chroot: 161, acct: 163,
      settimeofday: 164, mount: 165, umount2: 166, swapon: 167, swapoff: 168, reboot: 169, iopl: 172, ioperm: 173,
      init_module: 175, delete_module: 176, quotactl: 179, lookup_dcookie: 212, clock_settime: 227, kexec_load: 246,
      add_key: 248, request_key: 249, keyctl: 250, unshare: 272, perf_event_open: 298, fanotify_init: 300,
      name_to_handle_at: 303, open_by_handle_at: 304, clock_adjtime: 305, setns: 308, process_vm_readv: 310,
      process_vm_writev: 311, kcmp: 312, finit_module: 313, kexec_file_load: 320, bpf: 321, userfaultfd: 323,
    },
  },
  arm64: {
    audit: 0xc00000b7,
    clone: 220,
    clone3: 435,
    refused: {
      ...COMMON_NEW,
      lookup_dcookie: 18, umount2: 39, mount: 40, pivot_root: 41, chroot: 51, vhangup: 58, quotactl: 60, acct: 89,
      unshare: 97, kexec_load: 104, init_module: 105, delete_module: 106, clock_settime: 112, syslog: 116, ptrace: 117,
      reboot: 142, settimeofday: 170, adjtimex: 171, add_key: 217, request_key: 218, keyctl: 219, swapon: 224,
      swapoff: 225, perf_event_open: 241, fanotify_init: 262, name_to_handle_at: 264, open_by_handle_at: 265,
      clock_adjtime: 266, setns: 268, process_vm_readv: 270, process_vm_writev: 271, kcmp: 272, finit_module: 273,
      bpf: 280, userfaultfd: 282, kexec_file_load: 294,
    },
  },
};

interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Whether this machine's architecture has a filter (others run with bwrap's --disable-userns only). */
export function seccompSupported(arch: string = process.arch): boolean {
  return arch in ARCHES;
}

/** The filter for `arch` as the bytes of a `struct sock_filter[]`, or undefined on an unknown arch. */
export function seccompFilter(arch: string = process.arch): Buffer | undefined {
  const table = ARCHES[arch];
  if (!table) return undefined;
  const refused = Object.values(table.refused);
  // Layout: arch check, nr load, ABI check, clone3, one jump per refused call, clone flag check, returns.
  const program: Instruction[] = [];
  const at = (code: number, k: number, jt = 0, jf = 0) => program.push({ code, jt, jf, k });
  const head = 4 + (table.abiLimit === undefined ? 0 : 1) + 1 + refused.length + 3;
  const allow = head;
  const deny = head + 1;
  const noSys = head + 2;
  const jumpTo = (target: number) => target - program.length - 1;

  at(BPF_LD_W_ABS, OFFSET_ARCH);
  at(BPF_JEQ_K, table.audit, 1, 0);
  at(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM);
  at(BPF_LD_W_ABS, OFFSET_NR);
  if (table.abiLimit !== undefined) at(BPF_JGE_K, table.abiLimit, jumpTo(deny), 0);
  at(BPF_JEQ_K, table.clone3, jumpTo(noSys), 0);
  for (const nr of refused) at(BPF_JEQ_K, nr, jumpTo(deny), 0);
  at(BPF_JEQ_K, table.clone, 0, jumpTo(allow));
  at(BPF_LD_W_ABS, OFFSET_ARG0);
  at(BPF_JSET_K, CLONE_NAMESPACES, jumpTo(deny), jumpTo(allow));
  if (program.length !== head) throw new Error('seccomp program layout is off');
  at(BPF_RET_K, SECCOMP_RET_ALLOW);
  at(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM);
  at(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS);

  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((instruction, index) => {
    if (instruction.jt > 255 || instruction.jf > 255) throw new Error('seccomp jump out of range');
    bytes.writeUInt16LE(instruction.code, index * 8);
    bytes.writeUInt8(instruction.jt, index * 8 + 2);
    bytes.writeUInt8(instruction.jf, index * 8 + 3);
    bytes.writeUInt32LE(instruction.k >>> 0, index * 8 + 4);
  });
  return bytes;
}

/** The names of the calls the filter refuses, for `fathom doctor` and the docs. */
export function refusedSyscalls(arch: string = process.arch): string[] {
  const table = ARCHES[arch];
  return table ? ['clone3', 'clone with namespace flags', ...Object.keys(table.refused)].sort() : [];
}
