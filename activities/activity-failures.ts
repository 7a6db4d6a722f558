import { ApplicationFailure } from '@temporalio/common';
import { NON_RETRYABLE_FAILURES, type NonRetryableFailure } from '../core/contract';
import { redactSecrets } from '../core/redaction';

/** Error names from libraries and adapters that mean "retrying cannot help", mapped to failure types. */
const FAILURE_TYPE_OF_ERROR: Record<string, NonRetryableFailure> = {
  RdbError: 'VerificationFailed',
  ReplicationRefusedError: 'ReplicationRefused',
};

/**
 * Turns anything an activity throws into a Temporal failure with a one-line, secret-free message.
 * Known permanent problems become non-retryable so a run never retries them forever. A write that
 * found the worker's disk full says so first, naming BACKUP_DIR (where the worker writes), so
 * "PostgreSQL: the dump stream broke: ENOSPC" is not read as the database server's disk.
 */
export function toActivityFailure(error: unknown, backupDir?: string): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  const err = error instanceof Error ? error : new Error(String(error));
  const message = redactSecrets(oneLine(err.message));
  if (isDiskFull(err)) {
    return ApplicationFailure.create({ message: `the worker's disk is full${backupDir ? ` (BACKUP_DIR ${backupDir})` : ''}: ${message}`, type: 'DiskFull' });
  }
  if (isAuthenticationFailure(err)) {
    return ApplicationFailure.create({
      message: /authentication failed/i.test(message) ? message : `authentication failed: ${message}`,
      type: 'AuthenticationFailed',
      nonRetryable: true,
    });
  }
  const type = FAILURE_TYPE_OF_ERROR[err.name] ?? err.name;
  const nonRetryable = (NON_RETRYABLE_FAILURES as readonly string[]).includes(type);
  return ApplicationFailure.create({ message, type, nonRetryable });
}

/** PostgreSQL's invalid-authorization SQLSTATEs: 28P01 (wrong password), 28000 (no pg_hba entry, no such role). */
const POSTGRES_AUTH_CODES = new Set(['28P01', '28000']);

/**
 * Whether a store refused our credentials, anywhere in the error's `cause` chain: Redis `WRONGPASS` /
 * `NOAUTH`, PostgreSQL 28P01/28000 (or libpq's message from pg_dump), Qdrant HTTP 401/403.
 * Retrying cannot make a wrong password right.
 */
export function isAuthenticationFailure(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth += 1) {
    const { code, status } = current as { code?: unknown; status?: unknown };
    if (typeof code === 'string' && POSTGRES_AUTH_CODES.has(code)) return true;
    if (status === 401 || status === 403) return true;
    if (/\b(WRONGPASS|NOAUTH)\b|password authentication failed|no pg_hba\.conf entry/.test(current.message)) return true;
  }
  return false;
}

/**
 * ENOSPC anywhere in the error's `cause` chain, as a code or in a wrapper's message, or as the program
 * that wrote the file says it (`zstd: … No space left on device`, strerror's words).
 */
function isDiskFull(error: Error): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth += 1) {
    if ((current as NodeJS.ErrnoException).code === 'ENOSPC' || /\bENOSPC\b|No space left on device/.test(current.message)) return true;
  }
  return false;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}
