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
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
