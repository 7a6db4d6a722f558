import type { Workflows } from '../core/workflow-types';
import { auditWorkflow } from './audit';
import { backupWorkflow } from './backup';
import { backupLockWorkflow } from './backup-lock';
import { drillWorkflow, scheduledDrillsWorkflow } from './drill';
import { healthWorkflow } from './health';
import { notifyWorkflow } from './notify';
import { offsiteListWorkflow, offsitePruneWorkflow, offsiteSyncWorkflow, offsiteVerifyWorkflow } from './offsite';
import { pruneWorkflow } from './prune';
import { restoreWorkflow } from './restore';
import { verifyWorkflow } from './verify';

export {
  auditWorkflow,
  backupWorkflow,
  backupLockWorkflow,
  drillWorkflow,
  healthWorkflow,
  notifyWorkflow,
  offsiteListWorkflow,
  offsitePruneWorkflow,
  offsiteSyncWorkflow,
  offsiteVerifyWorkflow,
  pruneWorkflow,
  restoreWorkflow,
  scheduledDrillsWorkflow,
  verifyWorkflow,
};

/** The client starts workflows by the types in core/workflow-types.ts: these are the functions it names. */
export const registered = {
  auditWorkflow,
  backupWorkflow,
  backupLockWorkflow,
  drillWorkflow,
  healthWorkflow,
  notifyWorkflow,
  offsiteListWorkflow,
  offsitePruneWorkflow,
  offsiteSyncWorkflow,
  offsiteVerifyWorkflow,
  pruneWorkflow,
  restoreWorkflow,
  scheduledDrillsWorkflow,
  verifyWorkflow,
} satisfies Workflows;
