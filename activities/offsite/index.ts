import type { Config } from '../../core/config';
import type { OffsiteActivities } from '../../core/offsite';
import { previousCheckpoint, withProgress } from '../heartbeat';
import { abandonCopy, copySetOffsite } from './copy';
import { downloadOffsiteSet } from './download';
import { deleteOffsiteSet, pruneOffsite } from './prune';
import { listOffsiteSets } from './sets';
import { syncOffsite } from './sync';
import { verifyOffsiteSet } from './verify';

/** The offsite repository's operations as activities; the copy and the sync resume from their heartbeated checkpoint. */
export function createOffsiteActivities(config: Config): OffsiteActivities {
  return {
    copySetOffsite: ({ setName }) => withProgress((progress) => copySetOffsite(config, setName, { progress, resumeFrom: previousCheckpoint() })),
    abandonOffsiteCopy: ({ setName }) => abandonCopy(config, setName),
    listOffsiteSets: () => listOffsiteSets(config),
    verifyOffsiteSet: ({ setName, stageForDeepCheck }) => withProgress((progress) => verifyOffsiteSet(config, setName, progress, { stageForDeepCheck })),
    downloadOffsiteSet: ({ reference }) => withProgress((progress) => downloadOffsiteSet(config, reference, progress)),
    deleteOffsiteSet: ({ setName }) => deleteOffsiteSet(config, setName),
    syncOffsite: () => withProgress((progress) => syncOffsite(config, progress, previousCheckpoint())),
    applyOffsiteRetention: ({ tier, apply }) => pruneOffsite(config, new Date(), { tiers: tier ? [tier] : undefined, apply }),
  };
}
