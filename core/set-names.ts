/**
 * Backup set naming, as the specification shows it: `scholaria_backup_YYYYMMDD_HHMMSS`, in UTC.
 * Every user-supplied set reference passes through `parseSetReference`, so no input can name a path
 * outside BACKUP_DIR.
 */
export const SET_PREFIX = 'scholaria_backup_';
const SET_NAME_PATTERN = /^scholaria_backup_(\d{8})_(\d{6})$/;

/** `20240301_020000` for 2024-03-01T02:00:00Z. */
export function stampOf(date: Date): string {
  const iso = date.toISOString(); // 2024-03-01T02:00:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** `20240301T020000Z`, the compact form used in workflow ids. */
export function compactTimeOf(date: Date): string {
  return `${stampOf(date).replace('_', 'T')}Z`;
}

export function setNameOf(date: Date): string {
  return `${SET_PREFIX}${stampOf(date)}`;
}

export function isSetName(value: string): boolean {
  return SET_NAME_PATTERN.test(value);
}

/** The moment a set name stands for, or undefined when the name is not a set name. */
export function timeOfSetName(name: string): Date | undefined {
  const match = SET_NAME_PATTERN.exec(name);
  if (!match) return undefined;
  const [d, t] = [match[1]!, match[2]!];
  const date = new Date(
    `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${t.slice(0, 2)}:${t.slice(2, 4)}:${t.slice(4, 6)}Z`,
  );
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function stampOfSetName(name: string): string {
  if (!isSetName(name)) throw new RangeError(`"${name}" is not a backup set name`);
  return name.slice(SET_PREFIX.length);
}

export type SetReference = { kind: 'latest' } | { kind: 'name'; name: string };

/**
 * Accepts `latest`, a set name, or a path whose last component is a set name and whose parent is
 * BACKUP_DIR (the specification's `restore.sh /backup/scholaria_backup_...`).
 */
export function parseSetReference(text: string, backupDir: string): SetReference {
  const trimmed = text.trim().replace(/\/+$/, '');
  if (trimmed === 'latest') return { kind: 'latest' };
  if (isSetName(trimmed)) return { kind: 'name', name: trimmed };
  const slash = trimmed.lastIndexOf('/');
  if (slash >= 0) {
    const parent = trimmed.slice(0, slash) || '/';
    const name = trimmed.slice(slash + 1);
    if (isSetName(name) && normalizeDir(parent) === normalizeDir(backupDir)) return { kind: 'name', name };
    if (isSetName(name)) {
      throw new RangeError(`"${text}" is not inside BACKUP_DIR (${backupDir}); only sets in BACKUP_DIR can be used`);
    }
  }
  throw new RangeError(
    `"${text}" is not a backup set; give "latest", a name like ${SET_PREFIX}20240301_020000, or its path in BACKUP_DIR`,
  );
}

function normalizeDir(path: string): string {
  return path.replace(/\/+$/, '').replace(/\/\.\//g, '/') || '/';
}
