import { z } from 'zod';
import { STORE_NAMES } from './stores';
import { TIERS } from './tiers';

/**
 * `backup_manifest.json`, the record of one backup set. Versioned: readers refuse versions they do
 * not know instead of guessing.
 */
export const MANIFEST_FILE = 'backup_manifest.json';
export const CHECKSUMS_FILE = 'SHA256SUMS';
export const MANIFEST_SCHEMA = 'scholaria-backup/manifest';
export const MANIFEST_VERSION = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256');
/** A file name inside the set folder, possibly one level down (`qdrant_<stamp>/...`); never a path out. */
const setFileName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/, 'a plain file name inside the set')
  .refine((name) => !name.split('/').some((part) => part === '.' || part === '..'), 'no . or .. components');

export const fileEntrySchema = z.object({
  name: setFileName,
  bytes: z.number().int().nonnegative(),
  sha256: sha256Hex,
  /** What the file is for, e.g. `custom-dump`, `plain-sql`, `rdb`. */
  role: z.string().min(1),
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

/** Content counts that a restore can be checked against: rows per table, keys per database, points per collection. */
export const contentSummarySchema = z.object({
  unit: z.enum(['rows', 'keys', 'points']),
  counts: z.record(z.string(), z.number().int().nonnegative()),
});
export type ContentSummary = z.infer<typeof contentSummarySchema>;

export const phaseTimingSchema = z.object({ phase: z.string(), ms: z.number().nonnegative() });
export type PhaseTiming = z.infer<typeof phaseTimingSchema>;

const storeSucceededSchema = z.object({
  status: z.literal('ok'),
  serverVersion: z.string(),
  files: z.array(fileEntrySchema).min(1),
  summary: contentSummarySchema,
  checks: z.array(z.string()),
  notes: z.array(z.string()),
  phases: z.array(phaseTimingSchema),
});
const storeFailedSchema = z.object({
  status: z.literal('failed'),
  error: z.string(),
});
export const storeRecordSchema = z.discriminatedUnion('status', [storeSucceededSchema, storeFailedSchema]);
export type StoreRecord = z.infer<typeof storeRecordSchema>;
export type StoreSucceeded = z.infer<typeof storeSucceededSchema>;

export const SET_STATUSES = ['complete', 'partial'] as const;
export type SetStatus = (typeof SET_STATUSES)[number];

/** Present when the set's data files are age-encrypted: the recipients (public keys only) whose identities open them. */
export const setEncryptionSchema = z.object({
  format: z.literal('age'),
  recipients: z.array(z.string().min(1)).min(1),
});
export type SetEncryption = z.infer<typeof setEncryptionSchema>;

export const manifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA),
  version: z.literal(MANIFEST_VERSION),
  name: z.string(),
  tier: z.enum(TIERS),
  status: z.enum(SET_STATUSES),
  startedAt: z.string(),
  finishedAt: z.string(),
  tool: z.object({ name: z.string(), version: z.string() }),
  workflow: z.object({ id: z.string(), runId: z.string() }),
  stores: z.partialRecord(z.enum(STORE_NAMES), storeRecordSchema),
  encryption: setEncryptionSchema.optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** Every data file of the set, in a stable order: what SHA256SUMS lists. */
export function filesOf(manifest: Pick<Manifest, 'stores'>): FileEntry[] {
  return Object.values(manifest.stores)
    .flatMap((record) => (record?.status === 'ok' ? record.files : []))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function totalBytes(files: readonly FileEntry[]): number {
  return files.reduce((sum, file) => sum + file.bytes, 0);
}

/** `sha256sum -c` format: hash, two spaces, name. */
export function formatChecksums(files: readonly FileEntry[]): string {
  return files.map((file) => `${file.sha256}  ${file.name}\n`).join('');
}

/** Statuses: complete only when every requested store succeeded. */
export function statusOf(stores: Manifest['stores']): SetStatus {
  const records = Object.values(stores);
  return records.length > 0 && records.every((record) => record?.status === 'ok') ? 'complete' : 'partial';
}

/** Compares a summary read back from files with the one recorded; returns the differences, empty when equal. */
/** Everything a content summary counts, over all its tables, databases or collections. */
export function totalOf(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

export function summaryDifferences(expected: ContentSummary, actual: ContentSummary): string[] {
  const differences: string[] = [];
  const keys = new Set([...Object.keys(expected.counts), ...Object.keys(actual.counts)]);
  for (const key of [...keys].sort()) {
    const want = expected.counts[key] ?? 0;
    const got = actual.counts[key] ?? 0;
    if (want !== got) differences.push(`${key}: expected ${want} ${expected.unit}, found ${got}`);
  }
  return differences;
}
