/**
 * Children that die with the worker. A worker killed with SIGKILL runs no cleanup, so its pg_dump,
 * pg_restore, redis-server, zstd or age would otherwise live on (holding a database, a port, a pipe).
 * util-linux's `setpriv --pdeathsig SIGKILL` asks the kernel to kill the child when its parent dies,
 * then execs the command in place (same pid, so signals and exit codes are the command's own).
 * util-linux is essential on Debian (the Dockerfile's bookworm image has it); where setpriv is missing
 * the command runs as before.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** setpriv's exit code when it could not exec the command (util-linux's EX_EXEC_ENOENT). */
export const SETPRIV_COMMAND_NOT_FOUND = 127;

let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, 'setpriv'), constants.X_OK);
      setprivPath = join(dir, 'setpriv');
      break;
    } catch {
      // not in this folder
    }
  }
  return setprivPath;
}

/** The command line that runs `command args` as a child killed when this process dies. */
export function boundToThisProcess(command: string, args: readonly string[]): { command: string; args: string[]; bound: boolean } {
  const setpriv = findSetpriv();
  if (!setpriv) return { command, args: [...args], bound: false };
  return { command: setpriv, args: ['--pdeathsig', 'SIGKILL', '--', command, ...args], bound: true };
}
