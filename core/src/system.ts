import { FathomError } from './errors.js';
import { existsSync } from 'node:fs';

/** The absolute path of a program on PATH (or in the system folders), for children started without an environment. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const folders = [...(env.PATH ?? '').split(':'), '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  return folders.filter((folder) => folder.startsWith('/')).map((folder) => `${folder}/${name}`).find((path) => existsSync(path));
}

/**
 * The command prefix that runs a program as `uid`/`gid`, with no supplementary groups, no
 * capabilities and no way to gain any (a root server handing work to an unprivileged user).
 */
export function asUser(uid: number, gid = uid): string[] {
  const setpriv = findProgram('setpriv');
  if (!setpriv) {
    throw new FathomError('unavailable', 'setpriv was not found: a server running as root needs it to hand work to an unprivileged user', {
      hint: 'Install util-linux (apt-get install util-linux), or run the server as an unprivileged user.',
    });
  }
  return [setpriv, `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
}
