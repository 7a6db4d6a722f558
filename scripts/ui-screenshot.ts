/**
 * `npm run ui:screenshot`: what an operator sees in the Temporal Web UI, taken in a real browser.
 * Starts a dev server with its UI and private stores in a temporary folder, runs a daily backup and
 * a restore of it in which Redis fails so PostgreSQL is rolled back, opens both runs in headless
 * Chromium (Debian's package, installed when missing and running as root) and saves:
 *
 *   docs/screenshots/backup-run.png            the backup's timeline: every activity by name and summary
 *   docs/screenshots/restore-rollback-run.png  the failed restore: the reason in one line, the rollbacks
 *   docs/screenshots/runs-by-set.png           the workflow list filtered by the BackupSet search attribute
 *
 * Everything it started is stopped and removed at the end.
 */
import { join } from 'node:path';
import { BACKUP_SET } from '../core/search-attributes';
import { PROJECT_ROOT } from '../devstack/tools';
import { dumpDom, ensureChromium, makeUiRuns, screenshot, timelineUrl } from '../devstack/ui-run';

const OUT = join(PROJECT_ROOT, 'docs', 'screenshots');
const say = (line: string) => process.stdout.write(`▶ ${line}\n`);

async function main(): Promise<number> {
  const chromium = ensureChromium(say);
  if ('missing' in chromium) {
    process.stderr.write(`ui:screenshot: ${chromium.missing}\n`);
    return 1;
  }
  const runs = await makeUiRuns(say);
  try {
    const shots = [
      {
        file: join(OUT, 'backup-run.png'),
        url: timelineUrl(runs.backup.url),
        size: { width: 1800, height: 1200 },
        mustShow: ['backupPostgres', 'backupRedis', 'verifyRedis', 'sealBackupSet', `Dump PostgreSQL into ${runs.backup.set}`],
      },
      {
        file: join(OUT, 'restore-rollback-run.png'),
        url: timelineUrl(runs.restore.url),
        size: { width: 1600, height: 1400 },
        mustShow: ['restorePostgres', 'restoreRedis', 'rollbackPostgres', 'rollbackRedis', 'PostgreSQL rolled back, Redis failed'],
      },
      {
        file: join(OUT, 'runs-by-set.png'),
        url: `${runs.uiUrl}/namespaces/${runs.namespace}/workflows?query=${encodeURIComponent(`${BACKUP_SET.name} = '${runs.backup.set}'`)}`,
        size: { width: 1600, height: 560 },
        mustShow: [runs.backup.workflowId, runs.restore.workflowId],
      },
    ];
    for (const shot of shots) {
      // The page must have rendered the run before it is worth a picture.
      const dom = dumpDom(chromium.path, shot.url, shot.size);
      const absent = shot.mustShow.filter((text) => !dom.includes(text));
      if (absent.length > 0) throw new Error(`${shot.url} does not show ${absent.join(', ')}`);
      screenshot(chromium.path, shot.url, shot.file, shot.size);
      say(`saved ${shot.file.slice(PROJECT_ROOT.length + 1)} (${shot.url.replace(runs.uiUrl, 'Web UI ')})`);
    }
    process.stdout.write(`\nThe restore failed as intended: ${runs.restore.failure}\n`);
    return 0;
  } finally {
    await runs.stop();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`ui:screenshot: ${error.message}\n`);
      process.exit(1);
    },
  );
}
