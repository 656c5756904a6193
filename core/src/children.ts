import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();

/** Remembers a child process so it is killed when this process shuts down. */
export function trackChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function liveChildren(): number {
  return children.size;
}

/** SIGTERM to every tracked child, then SIGKILL to those still alive after `graceMs`. */
export async function killChildren(graceMs = 2000): Promise<void> {
  const alive = [...children].filter((child) => child.exitCode === null && child.signalCode === null);
  if (alive.length === 0) return;
  const exited = alive.map((child) => new Promise<void>((resolve) => child.once('exit', () => resolve())));
  for (const child of alive) child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
  if ((await Promise.race([Promise.all(exited), timeout])) === 'timeout') {
    for (const child of alive) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  clearTimeout(timer);
}

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
