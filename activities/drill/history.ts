/** The drill log, LOG_DIR/drills.jsonl, read back for `status`, `health-check` and the metrics. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DRILLS_FILE, type DrillResult } from '../../core/drills';
import type { Tier } from '../../core/tiers';

/** Every recorded drill, oldest first; lines that do not parse are skipped. */
export async function readDrills(logDir: string): Promise<DrillResult[]> {
  let text: string;
  try {
    text = await readFile(join(logDir, DRILLS_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text.split('\n').flatMap((line) => {
    if (!line.trim()) return [];
    try {
      return [JSON.parse(line) as DrillResult];
    } catch {
      return [];
    }
  });
}

/** The newest drill of each tier. */
export function lastDrillPerTier(drills: readonly DrillResult[]): Partial<Record<Tier, DrillResult>> {
  const last: Partial<Record<Tier, DrillResult>> = {};
  for (const drill of drills) if (!last[drill.tier] || last[drill.tier]!.startedAt <= drill.startedAt) last[drill.tier] = drill;
  return last;
}
