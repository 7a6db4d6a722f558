export { backupWorkflow } from './backup';
export { verifyWorkflow } from './verify';
