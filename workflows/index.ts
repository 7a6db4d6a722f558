import type { Workflows } from '../core/workflow-types';
import { backupWorkflow } from './backup';
import { backupLockWorkflow } from './backup-lock';
import { healthWorkflow } from './health';
import { notifyWorkflow } from './notify';
import { offsiteListWorkflow, offsitePruneWorkflow, offsiteSyncWorkflow, offsiteVerifyWorkflow } from './offsite';
import { pruneWorkflow } from './prune';
import { restoreWorkflow } from './restore';
import { verifyWorkflow } from './verify';

export {
  backupWorkflow,
  backupLockWorkflow,
  healthWorkflow,
  notifyWorkflow,
  offsiteListWorkflow,
  offsitePruneWorkflow,
  offsiteSyncWorkflow,
  offsiteVerifyWorkflow,
  pruneWorkflow,
  restoreWorkflow,
  verifyWorkflow,
};

/** The client starts workflows by the types in core/workflow-types.ts: these are the functions it names. */
export const registered = {
  backupWorkflow,
  backupLockWorkflow,
  healthWorkflow,
  notifyWorkflow,
  offsiteListWorkflow,
  offsitePruneWorkflow,
  offsiteSyncWorkflow,
  offsiteVerifyWorkflow,
  pruneWorkflow,
  restoreWorkflow,
  verifyWorkflow,
} satisfies Workflows;
