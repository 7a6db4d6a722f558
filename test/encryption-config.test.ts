/** Encryption settings as a user writes them: recipients validated to one clear line, the identity a path only. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../core/config';
import { algorithmOfFile, isEncryptedFile, storedFileName } from '../core/compression';
import { recipientsOf, setEncryptionOf } from '../activities/encryption';
import { exposureWarnings } from '../activities/file-modes';

const dir = mkdtempSync(join(tmpdir(), 'scholaria-encryption-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ageKey = (): { recipient: string; identity: string } => {
  const identity = execFileSync('age-keygen', [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const recipient = execFileSync('age-keygen', ['-y'], { input: identity, encoding: 'utf8' }).trim();
  return { recipient, identity };
};
const sshEd25519 = (() => {
  const path = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops@backup-host', '-f', path]);
  return execFileSync('cat', [`${path}.pub`], { encoding: 'utf8' }).trim();
})();

const configError = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
    return error.message;
  }
  assert.fail('the configuration was accepted');
};

describe('BACKUP_ENCRYPTION_RECIPIENTS', () => {
  test('age and OpenSSH recipients, comma-separated, are accepted as written', () => {
    const { recipient } = ageKey();
    const config = loadConfig({ BACKUP_ENCRYPTION_RECIPIENTS: ` ${recipient} ,${sshEd25519}` });
    assert.deepEqual(config.encryption.recipients, [recipient, sshEd25519]);
    assert.equal(config.encryption.identityFile, undefined);
    assert.deepEqual(loadConfig({}).encryption.recipients, []);
  });

  test('a recipient that is not one is refused in one line naming the variable', () => {
    const { recipient } = ageKey();
    for (const bad of ['age1notakey', `${recipient},ssh-dss AAAAB3NzaC1kc3MAAACBAP`, recipient.slice(0, -1), 'ssh-ed25519']) {
      const message = configError({ BACKUP_ENCRYPTION_RECIPIENTS: bad });
      assert.match(message, /^BACKUP_ENCRYPTION_RECIPIENTS has ".+", which is not an age recipient \(age1\.\.\., ssh-ed25519 \.\.\. or ssh-rsa \.\.\.\)$/);
      assert.ok(!message.includes('\n'));
    }
  });

  test('a private key given as a recipient is refused without being echoed', () => {
    const { identity } = ageKey();
    const secret = identity.split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-'))!;
    const message = configError({ BACKUP_ENCRYPTION_RECIPIENTS: secret });
    assert.match(message, /^BACKUP_ENCRYPTION_RECIPIENTS holds an age identity \(AGE-SECRET-KEY-\.\.\.\), a private key/);
    assert.ok(!message.includes(secret.slice(15)));
  });

  test('the identity is an absolute path; its content is never read into the configuration', () => {
    assert.match(configError({ BACKUP_ENCRYPTION_IDENTITY_FILE: 'keys/backup.txt' }), /^BACKUP_ENCRYPTION_IDENTITY_FILE must be an absolute path$/);
    const { identity } = ageKey();
    const path = join(dir, 'identity.txt');
    writeFileSync(path, identity, { mode: 0o600 });
    const config = loadConfig({ BACKUP_ENCRYPTION_IDENTITY_FILE: path });
    assert.equal(config.encryption.identityFile, path);
    assert.ok(!JSON.stringify(config).includes('AGE-SECRET-KEY'));
  });

  test('BACKUP_FILE_GROUP_READ is true or false', () => {
    assert.equal(loadConfig({}).groupRead, false);
    assert.equal(loadConfig({ BACKUP_FILE_GROUP_READ: 'true' }).groupRead, true);
    assert.match(configError({ BACKUP_FILE_GROUP_READ: 'yes' }), /^BACKUP_FILE_GROUP_READ must be true or false$/);
  });
});

describe('BACKUP_ENCRYPTION_RECIPIENTS_FILE', () => {
  test('one recipient a line with # comments, added to the variable; what the manifest records', async () => {
    const [first, second] = [ageKey().recipient, ageKey().recipient];
    const path = join(dir, 'recipients.txt');
    writeFileSync(path, `# offline key, safe 2\n${second}\n\n${sshEd25519}\n`);
    const config = loadConfig({ BACKUP_ENCRYPTION_RECIPIENTS: first, BACKUP_ENCRYPTION_RECIPIENTS_FILE: path });
    assert.deepEqual(await recipientsOf(config), [first, second, sshEd25519]);
    assert.deepEqual(await setEncryptionOf(config), { format: 'age', recipients: [first, second, sshEd25519] });
    assert.equal(await setEncryptionOf(loadConfig({})), undefined);
  });

  test('a bad line or a missing file is one line naming the variable and the file', async () => {
    const path = join(dir, 'bad-recipients.txt');
    writeFileSync(path, `${ageKey().recipient}\nage1typo\n`);
    await assert.rejects(recipientsOf(loadConfig({ BACKUP_ENCRYPTION_RECIPIENTS_FILE: path })), (error: Error) => {
      assert.equal(error.name, 'ConfigError');
      assert.equal(error.message, `BACKUP_ENCRYPTION_RECIPIENTS_FILE ${path} has "age1typo", which is not an age recipient (age1..., ssh-ed25519 ... or ssh-rsa ...)`);
      return true;
    });
    const missing = join(dir, 'nowhere.txt');
    await assert.rejects(recipientsOf(loadConfig({ BACKUP_ENCRYPTION_RECIPIENTS_FILE: missing })), {
      name: 'ConfigError',
      message: `BACKUP_ENCRYPTION_RECIPIENTS_FILE ${missing} cannot be read (ENOENT)`,
    });
  });
});

describe('stored file names', () => {
  test('compress, then encrypt: the readers go by the name', () => {
    assert.equal(storedFileName('redis_20261129_020000.rdb', { algorithm: 'gzip' }, true), 'redis_20261129_020000.rdb.gz.age');
    assert.equal(storedFileName('qdrant_snapshot.tar', { algorithm: 'zstd' }, true), 'qdrant_snapshot.tar.zst.age');
    assert.equal(storedFileName('postgres_20261129_020000.sql.custom', undefined, true), 'postgres_20261129_020000.sql.custom.age');
    assert.equal(storedFileName('redis_20261129_020000.rdb', { algorithm: 'gzip' }, false), 'redis_20261129_020000.rdb.gz');
    assert.equal(algorithmOfFile('x.rdb.zst.age'), 'zstd');
    assert.equal(algorithmOfFile('x.sql.custom.age'), undefined);
    assert.equal(isEncryptedFile('x.sql.gz.age'), true);
    assert.equal(isEncryptedFile('x.sql.gz'), false);
  });
});

describe('health-check: files others can read', () => {
  test('warns for each path readable by every user, the first five of them', () => {
    const owner = { path: '/backup/20261129_020000', mode: 0o40700, directory: true };
    assert.deepEqual(exposureWarnings([owner, { path: '/backup/20261129_020000/SHA256SUMS', mode: 0o100640, directory: false }]), []);
    assert.deepEqual(exposureWarnings([{ path: '/backup', mode: 0o40755, directory: true }]), [
      'folder /backup is readable by every user of this host (mode 0755): chmod -R o-rwx /backup',
    ]);
    const many = Array.from({ length: 7 }, (_, i) => ({ path: `/backup/s/f${i}`, mode: 0o100644, directory: false }));
    const lines = exposureWarnings(many);
    assert.equal(lines.length, 6);
    assert.equal(lines[0], 'file /backup/s/f0 is readable by every user of this host (mode 0644): chmod o-rwx /backup/s/f0');
    assert.equal(lines[5], 'and 2 more paths under the same BACKUP_DIR readable by every user');
  });
});
