/**
 * `/metrics` on BACKUP_METRICS_PORT (off by default), for Prometheus: Temporal's SDK metrics (the
 * Runtime's own Prometheus exporter, bound to a loopback port of its own, whose page is passed through)
 * followed by ours, read at every scrape from what the runs leave on disk, so they survive restarts
 * and agree with `status`: the newest complete set per tier (local, and the age of the newest in the
 * bucket), the last drill per tier, failed runs by kind.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../core/config';
import type { AuditEntry } from '../core/contract';
import { filesOf, totalBytes } from '../core/manifest';
import { STORE_NAMES } from '../core/stores';
import { TIERS, type Tier } from '../core/tiers';
import { AUDIT_FILE } from '../activities/audit';
import { lastDrillPerTier, readDrills } from '../activities/drill/history';
import { listSets } from '../activities/repository/sets';
import { openBucket } from '../activities/offsite/client';
import { listOffsiteSetsIn } from '../activities/offsite/sets';

/**
 * When the newest complete offsite set of each tier was sealed, or undefined when the bucket cannot be
 * listed. A listing reads every set's manifest, so it is made at most once per `maxAgeMs` however often
 * Prometheus scrapes; the ages are computed at each scrape from it.
 */
export class OffsiteNewest {
  private listing: { at: number; newest: Promise<Map<Tier, number> | undefined> } | undefined;

  constructor(
    private readonly config: Pick<Config, 'offsite'>,
    private readonly maxAgeMs = 60_000,
  ) {}

  get configured(): boolean {
    return this.config.offsite !== undefined;
  }

  newest(now = Date.now()): Promise<Map<Tier, number> | undefined> {
    if (!this.listing || now - this.listing.at > this.maxAgeMs) this.listing = { at: now, newest: this.list() };
    return this.listing.newest;
  }

  private async list(): Promise<Map<Tier, number> | undefined> {
    const bucket = openBucket(this.config);
    try {
      const newest = new Map<Tier, number>();
      for (const set of await listOffsiteSetsIn(bucket)) {
        const { manifest } = set;
        if (set.status === 'complete' && manifest && !newest.has(manifest.tier)) newest.set(manifest.tier, Date.parse(manifest.finishedAt));
      }
      return newest;
    } catch {
      return undefined;
    } finally {
      bucket.s3.destroy();
    }
  }
}

/** A free loopback port for the SDK's exporter, which must own the port it binds. */
export async function freeLoopbackPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Sample = [labels: Record<string, string>, value: number];

function family(name: string, help: string, type: 'gauge' | 'counter', samples: readonly Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const text = Object.entries(labels).map(([key, label]) => `${key}="${label.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',');
    lines.push(`${name}${text ? `{${text}}` : ''} ${value}`);
  }
  return lines.join('\n');
}

/** Our metrics in the Prometheus text format. */
export async function renderMetrics(config: Pick<Config, 'backupDir' | 'logDir' | 'offsite'>, offsite = new OffsiteNewest(config)): Promise<string> {
  const sets = await listSets(config.backupDir).catch(() => []);
  const setTime: Sample[] = [];
  const setBytes: Sample[] = [];
  const setDuration: Sample[] = [];
  for (const tier of TIERS) {
    const manifest = sets.find((set) => set.manifest?.status === 'complete' && set.manifest.tier === tier)?.manifest;
    if (!manifest) continue;
    setTime.push([{ tier }, Date.parse(manifest.finishedAt) / 1000]);
    setDuration.push([{ tier }, (Date.parse(manifest.finishedAt) - Date.parse(manifest.startedAt)) / 1000]);
    for (const store of STORE_NAMES) {
      const record = manifest.stores[store];
      if (record?.status === 'ok') setBytes.push([{ tier, store }, totalBytes(record.files)]);
    }
    setBytes.push([{ tier, store: 'all' }, totalBytes(filesOf(manifest))]);
  }
  const offsiteFamilies: string[] = [];
  if (offsite.configured) {
    const newest = await offsite.newest();
    const now = Date.now();
    const ages: Sample[] = [...(newest ?? [])].map(([tier, finishedAt]) => [{ tier }, Math.max(0, Math.round((now - finishedAt) / 1000))]);
    offsiteFamilies.push(
      family('scholaria_backup_offsite_reachable', '1 when the offsite bucket could be listed (at most a minute ago), 0 when not.', 'gauge', [[{}, newest ? 1 : 0]]),
      family('scholaria_backup_last_offsite_set_age_seconds', 'Age of the newest complete set of the tier in the offsite bucket (since it was sealed).', 'gauge', ages),
    );
  }
  const drills = await readDrills(config.logDir).catch(() => []);
  const last = lastDrillPerTier(drills);
  const lastPassed = lastDrillPerTier(drills.filter((drill) => drill.outcome === 'passed'));
  const drillTime: Sample[] = [];
  const drillPassedTime: Sample[] = [];
  const drillSuccess: Sample[] = [];
  const rto: Sample[] = [];
  const rpo: Sample[] = [];
  for (const tier of TIERS) {
    const drill = last[tier];
    if (drill) {
      drillTime.push([{ tier }, Date.parse(drill.startedAt) / 1000]);
      drillSuccess.push([{ tier }, drill.outcome === 'passed' ? 1 : 0]);
      if (drill.rtoSeconds !== undefined) rto.push([{ tier }, drill.rtoSeconds]);
      rpo.push([{ tier }, drill.rpoSeconds]);
    }
    const passed = lastPassed[tier];
    if (passed) drillPassedTime.push([{ tier }, Date.parse(passed.startedAt) / 1000]);
  }
  const failed = new Map<string, number>();
  const audit = await readFile(join(config.logDir, AUDIT_FILE), 'utf8').catch(() => '');
  for (const line of audit.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as AuditEntry;
      if (/fail|partial|rolled back/.test(entry.outcome)) failed.set(entry.event, (failed.get(entry.event) ?? 0) + 1);
    } catch {
      // a torn last line while a run appends
    }
  }
  return [
    family('scholaria_backup_last_complete_set_timestamp_seconds', 'When the newest complete set of the tier was sealed (Unix time).', 'gauge', setTime),
    family('scholaria_backup_last_complete_set_bytes', 'Size of the newest complete set of the tier, per store and in all.', 'gauge', setBytes),
    family('scholaria_backup_last_complete_set_duration_seconds', 'How long the backup of the newest complete set of the tier took.', 'gauge', setDuration),
    ...offsiteFamilies,
    family('scholaria_backup_last_drill_timestamp_seconds', 'When the last restore drill of the tier started (Unix time).', 'gauge', drillTime),
    family('scholaria_backup_last_drill_success', '1 when the last restore drill of the tier passed, 0 when it failed or was cancelled.', 'gauge', drillSuccess),
    family('scholaria_backup_last_successful_drill_timestamp_seconds', 'When the last restore drill of the tier that passed started (Unix time).', 'gauge', drillPassedTime),
    family('scholaria_backup_last_drill_rto_seconds', 'RTO measured by the last drill of the tier: start to every store restored and checked.', 'gauge', rto),
    family('scholaria_backup_last_drill_rpo_seconds', "RPO of the last drill of the tier: the set's age when the drill started.", 'gauge', rpo),
    family('scholaria_backup_failed_runs_total', 'Runs that failed (or were partial or rolled back), by kind, from the audit log.', 'counter', [...failed].map(([kind, count]) => [{ kind }, count])),
  ].join('\n') + '\n';
}

/** Serves GET /metrics: the SDK's page (when its exporter runs on `sdkPort`) followed by ours. */
export async function serveMetrics(config: Pick<Config, 'backupDir' | 'logDir' | 'offsite'>, port: number, sdkPort?: number): Promise<Server> {
  const offsite = new OffsiteNewest(config);
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    void (async () => {
      const sdk = sdkPort ? await fetch(`http://127.0.0.1:${sdkPort}/metrics`).then((r) => (r.ok ? r.text() : ''), () => '') : '';
      const ours = await renderMetrics(config, offsite);
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(`${sdk.trimEnd()}${sdk ? '\n' : ''}${ours}`);
    })().catch((error: Error) => response.writeHead(500).end(`${error.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return server;
}
