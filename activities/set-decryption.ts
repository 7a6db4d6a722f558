/** The encryption checks of a sealed set as activities (see EncryptionActivities in core/contract.ts). */
import type { Config } from '../core/config';
import type { EncryptionActivities } from '../core/contract';
import { filesOf } from '../core/manifest';
import { isEncryptedFile } from '../core/compression';
import { checkSetDecrypts, EncryptionIdentityMissing, requireIdentityForFiles } from './encryption';
import { withProgress } from './heartbeat';
import { readManifest, setDirectory } from './repository/sets';

async function encryptedFilesOf(config: Pick<Config, 'backupDir'>, setName: string): Promise<string[]> {
  const manifest = await readManifest(setDirectory(config.backupDir, setName, 'sealed'));
  return filesOf(manifest).map((file) => file.name).filter(isEncryptedFile);
}

export function createEncryptionActivities(config: Config): EncryptionActivities {
  return {
    requireSetIdentity: async ({ setName }) => requireIdentityForFiles(config, await encryptedFilesOf(config, setName)),
    checkSetDecrypts: ({ setName, identityRequired }) =>
      withProgress(async (progress) => {
        if ((await encryptedFilesOf(config, setName)).length === 0) return { encrypted: false };
        progress.phase('decrypting every encrypted file');
        try {
          return { encrypted: true, opened: true, checks: await checkSetDecrypts(config, setName) };
        } catch (error) {
          if (identityRequired || !(error instanceof EncryptionIdentityMissing)) throw error;
          return { encrypted: true, opened: false, reason: error.message };
        }
      }),
  };
}
