import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The host uid and gid a sandbox's processes and files belong to. */
export interface Identity {
  uid: number;
  gid: number;
}

/**
 * A sandbox's workspace on the host. Where the server may mount file systems (root), it is an
 * ext4 file system in a sparse image file of the quota's size, loop-mounted: the kernel enforces
 * the size at every write, from any process, during calls or between them. Elsewhere it is a plain
 * folder, and the quota is only checked during calls.
 */
export interface Volume {
  /** The host folder bound into the sandbox as its workspace. */
  readonly dir: string;
  readonly quota: 'filesystem' | 'watchdog';
  close(): Promise<void>;
}

export type VolumeKind = { kind: 'loop' } | { kind: 'folder'; reason: string };

/** Where a workspace is bound from, and where its file system image lives when it has one. */
export interface VolumePlace {
  dir: string;
  image: string;
}

/** Whether loop-mounted workspaces work here, found by making a small one (image in `images`, mounted in `mounts`). */
export async function volumeSupport(images: string, mounts: string): Promise<VolumeKind> {
  if (process.getuid?.() !== 0) return { kind: 'folder', reason: 'the server is not root, so it cannot mount a workspace file system' };
  try {
    const volume = await loopVolume({ dir: join(mounts, 'probe'), image: join(images, 'probe.img') }, 1, undefined);
    await volume.close();
    return { kind: 'loop' };
  } catch (error) {
    return { kind: 'folder', reason: `loop-mounted workspaces do not work here: ${(error as Error).message.split('\n')[0]}` };
  }
}

export async function createVolume(place: VolumePlace, sizeMb: number, owner: Identity | undefined, kind: VolumeKind): Promise<Volume> {
  if (kind.kind === 'loop') return loopVolume(place, sizeMb, owner);
  const { dir } = place;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (owner) chownSync(dir, owner.uid, owner.gid);
  return { dir, quota: 'watchdog', close: async () => rmSync(dir, { recursive: true, force: true }) };
}

async function loopVolume({ dir, image }: VolumePlace, sizeMb: number, owner: Identity | undefined): Promise<Volume> {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  try {
    await run('truncate', ['-s', `${sizeMb}M`, image]);
    const rootOwner = owner ? ['-E', `root_owner=${owner.uid}:${owner.gid},nodiscard`] : ['-E', 'nodiscard'];
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-L', 'workspace', ...rootOwner, image]);
    await run('mount', ['-o', 'loop,nosuid,nodev,noatime', image, dir]);
    rmdirSync(join(dir, 'lost+found'));
  } catch (error) {
    await unmount(dir).catch(() => undefined);
    rmSync(image, { force: true });
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    dir,
    quota: 'filesystem',
    close: () =>
      (closed ??= (async () => {
        await unmount(dir);
        rmSync(image, { force: true });
        rmdirSync(dir);
      })()),
  };
}

async function unmount(dir: string): Promise<void> {
  if (!isMountPoint(dir)) return;
  // A process that is still being reaped holds the mount briefly: detach it lazily then.
  await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
}

function mountPoints(): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((point): point is string => Boolean(point))
      .map((point) => point.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  } catch {
    return [];
  }
}

function isMountPoint(dir: string): boolean {
  return mountPoints().includes(dir);
}

/** Detaches the workspaces mounted under `root` (left by a server that died) so the folder can go. */
export async function unmountUnder(root: string): Promise<void> {
  if (!existsSync(root)) return;
  for (const point of mountPoints().filter((point) => point.startsWith(root + '/'))) {
    await run('umount', ['-l', point]).catch(() => undefined);
  }
}
