import type { Workflows } from '../core/workflow-types';
import type * as registered from './index';

export { auditWorkflow } from './audit';
export { backupWorkflow } from './backup';
export { backupLockWorkflow } from './backup-lock';
export { drillWorkflow, scheduledDrillsWorkflow } from './drill';
export { healthWorkflow } from './health';
export { notifyWorkflow } from './notify';
export { offsiteListWorkflow, offsitePruneWorkflow, offsiteSyncWorkflow, offsiteVerifyWorkflow } from './offsite';
export { pruneWorkflow } from './prune';
export { restoreWorkflow } from './restore';
export { verifyWorkflow } from './verify';

/**
 * The client starts workflows by the types in core/workflow-types.ts: the compiler checks here that
 * this module exports every one of them, with that signature.
 */
type Exporting<T extends Workflows> = T;
export type RegisteredWorkflows = Exporting<typeof registered>;
