import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from './tools';

export const CLI = join(PROJECT_ROOT, 'bin', 'scholaria-backup.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scholaria-backup ...` as a user would, with exactly the given environment, capturing its output. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 180_000): Promise<CliResult> {
  return runCaptured(process.execPath, [CLI, ...args], env, timeoutMs);
}

/** Runs a command with exactly the given environment and no input; its output and exit code, killed after `timeoutMs`. */
export function runCaptured(command: string, args: string[], env: Record<string, string>, timeoutMs = 180_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
