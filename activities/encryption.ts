/**
 * age encryption of a set's data files, by Debian's `age` binary as a child process (like zstd).
 * Measured on the project's machine: `age` 1.1.1 encrypted 200 MB in 0.22 s, the `age-encryption` npm
 * package took 3.4 s for the same 200 MB and reads neither ssh-ed25519 nor ssh-rsa recipients.
 *
 * The backup host holds only recipients (public keys). The identity is a file path handed to `age -i`:
 * this process never reads the private key, so it cannot end up in a workflow input, result or log.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { isEncryptedFile } from '../core/compression';
import { ConfigError, parseRecipients, type Config } from '../core/config';
import { IDENTITY_VARIABLE } from '../core/encryption-identity';
import { filesOf, type SetEncryption } from '../core/manifest';
import { childFilter, spawnChecked, type Command } from './child-process';
import { VerificationFailed } from './repository/errors';
import { readManifest, setDirectory } from './repository/sets';

export { IDENTITY_VARIABLE };

/**
 * An encrypted set was to be read on a worker without `BACKUP_ENCRYPTION_IDENTITY_FILE`. Non-retryable
 * (failure type `EncryptionIdentityMissing`): no retry can make the identity appear.
 */
export class EncryptionIdentityMissing extends ApplicationFailure {
  constructor(message: string) {
    super(message, 'EncryptionIdentityMissing', true);
  }
}

/**
 * The identity file to decrypt `fileName` with. Call it before touching anything: it refuses at once,
 * naming the variable, when the worker has none. (An unreadable file is refused by age, naming it.)
 */
export function identityFor(config: Pick<Config, 'encryption'>, fileName: string): string {
  const path = config.encryption.identityFile;
  if (!path) {
    throw new EncryptionIdentityMissing(
      `${fileName} is encrypted with age; set ${IDENTITY_VARIABLE} on the worker to the file holding the identity (private key) that opens it`,
    );
  }
  return path;
}

/** Refuses at once, naming the variable, when any of `fileNames` is encrypted and the worker has no identity. */
export function requireIdentityForFiles(config: Pick<Config, 'encryption'>, fileNames: readonly string[]): void {
  const encrypted = fileNames.find(isEncryptedFile);
  if (encrypted) identityFor(config, encrypted);
}

/** Every recipient new sets are encrypted to: BACKUP_ENCRYPTION_RECIPIENTS, then the lines of BACKUP_ENCRYPTION_RECIPIENTS_FILE. */
export async function recipientsOf(config: Pick<Config, 'encryption'>): Promise<string[]> {
  const { recipients, recipientsFile } = config.encryption;
  if (!recipientsFile) return recipients;
  let text: string;
  try {
    text = await readFile(recipientsFile, 'utf8');
  } catch (error) {
    throw new ConfigError(`BACKUP_ENCRYPTION_RECIPIENTS_FILE ${recipientsFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let fromFile: string[];
  try {
    fromFile = parseRecipients(text, 'line');
  } catch (error) {
    throw new ConfigError(`BACKUP_ENCRYPTION_RECIPIENTS_FILE ${recipientsFile} ${(error as Error).message}`);
  }
  if (fromFile.length === 0) throw new ConfigError(`BACKUP_ENCRYPTION_RECIPIENTS_FILE ${recipientsFile} lists no recipient`);
  return [...new Set([...recipients, ...fromFile])];
}

/** What the manifest of a set written with this configuration records: the recipients, or nothing when sets are not encrypted. */
export async function setEncryptionOf(config: Pick<Config, 'encryption'>): Promise<SetEncryption | undefined> {
  const recipients = await recipientsOf(config);
  return recipients.length > 0 ? { format: 'age', recipients } : undefined;
}

/** The `age` command that encrypts stdin to `recipients` (at least one) on stdout. */
export function encryptorCommand(recipients: readonly string[]): Command {
  if (recipients.length === 0) throw new RangeError('encryption needs at least one recipient');
  return { command: 'age', args: ['--encrypt', ...recipients.flatMap((recipient) => ['--recipient', recipient])] };
}

/** An encrypting stream to `recipients` (at least one). */
export function encryptor(recipients: readonly string[], signal?: AbortSignal): Duplex {
  const { command, args } = encryptorCommand(recipients);
  return childFilter(command, args, signal);
}

/** The `age` command that decrypts stdin with `identityFile` on stdout. */
export function decryptorCommand(identityFile: string): Command {
  return { command: 'age', args: ['--decrypt', '--identity', identityFile] };
}

/** A decrypting stream: fails, with age's own reason, on a wrong identity or a ciphertext that does not authenticate. */
export function decryptor(identityFile: string, signal?: AbortSignal): Duplex {
  const { command, args } = decryptorCommand(identityFile);
  return childFilter(command, args, signal);
}

/**
 * Decrypts every encrypted file of a set to its end without keeping anything: age authenticates each
 * chunk, so a wrong identity, a changed byte or a cut file is refused here, naming the file, before a
 * restore touches any store. Unencrypted files are left to the checksum check.
 */
export async function checkEncryptedFilesOpen(
  config: Pick<Config, 'encryption'>,
  setPath: string,
  fileNames: readonly string[],
  signal?: AbortSignal,
): Promise<string[]> {
  const checks: string[] = [];
  for (const name of fileNames.filter(isEncryptedFile)) {
    const identity = identityFor(config, name);
    const child = spawnChecked('age', ['--decrypt', '--identity', identity, '--output', '/dev/null', join(setPath, name)], { signal, stdout: 'ignore' });
    await child.done.catch((error: Error) => {
      throw new VerificationFailed(`${name} cannot be decrypted with ${IDENTITY_VARIABLE}: ${error.message}`);
    });
    checks.push(`${name}: decrypted to its end with ${IDENTITY_VARIABLE}, every chunk authenticated`);
  }
  return checks;
}

/**
 * For a restore's verification step, before anything is touched: every encrypted data file of the
 * sealed set `setName` decrypts to its end with the worker's identity. Refuses at once with
 * EncryptionIdentityMissing when the set is encrypted and the worker has no identity.
 */
export async function checkSetDecrypts(config: Pick<Config, 'encryption' | 'backupDir'>, setName: string, signal?: AbortSignal): Promise<string[]> {
  const path = setDirectory(config.backupDir, setName, 'sealed');
  const names = filesOf(await readManifest(path)).map((file) => file.name);
  requireIdentityForFiles(config, names);
  return checkEncryptedFilesOpen(config, path, names, signal);
}
