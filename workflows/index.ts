export { backupWorkflow } from './backup';
export { verifyWorkflow } from './verify';
export { restoreWorkflow } from './restore';
export { healthWorkflow } from './health';
export { backupLockWorkflow } from './backup-lock';
