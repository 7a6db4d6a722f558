/** Errors of the backup repository; their names are the failure types workflows and the CLI see. */
export class SetNotFound extends Error {
  override name = 'SetNotFound';
}
export class ChecksumMismatch extends Error {
  override name = 'ChecksumMismatch';
}
export class BackupDirUnusable extends Error {
  override name = 'BackupDirUnusable';
}
export class VerificationFailed extends Error {
  override name = 'VerificationFailed';
}
