/** The worker's variable naming the age identity file that opens encrypted sets (never a workflow input). */
export const IDENTITY_VARIABLE = 'BACKUP_ENCRYPTION_IDENTITY_FILE';
