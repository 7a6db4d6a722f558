/**
 * The shell ways the product is measured against, per compression profile:
 *   (a) the specification's backup.sh as it would be written with standard tools, one step after the other;
 *   (b) the best hand-tuned pipeline we can write for the same outputs: stores concurrently, the database
 *       read once, parallel compression where the tools allow;
 * and their restore counterparts. Each is a bash script run with `set -euo pipefail`, so a failing
 * tool anywhere in a pipe fails the way. A profile is one entry of PROFILES: adding one means its
 * file names, its four scripts and how the product is told to use it.
 */
import { existsSync } from 'node:fs';

export type Compression = 'gzip' | 'zstd';
/** A compression profile, optionally with every data file encrypted with age (issue 16): `gzip-age`. */
export type ProfileName = Compression | `${Compression}-age`;
export type Way = 'a' | 'b' | 'c';
export type Operation = 'backup' | 'restore';

export const PROFILE_NAMES: readonly ProfileName[] = ['gzip', 'zstd', 'gzip-age', 'zstd-age'];

/** The profile that differs from `name` only by not encrypting, for the cost of encryption. */
export function unencryptedTwin(name: ProfileName): Compression {
  return name.startsWith('gzip') ? 'gzip' : 'zstd';
}

export const WAY_LABELS: Record<Operation, Record<Way, string>> = {
  backup: {
    a: 'spec backup.sh, sequential',
    b: 'hand-tuned shell pipeline',
    c: 'scholaria-backup backup',
  },
  restore: {
    a: 'pg_restore -j2 + RDB load',
    b: 'same, both stores at once',
    c: 'scholaria-backup restore',
  },
};

/** What kind of artefact a file of a set is, recognised by its name in any profile (`.age` when encrypted). */
export function artefactKind(name: string): string | undefined {
  if (name === 'SHA256SUMS') return 'checksums';
  if (name === 'backup_manifest.json') return 'manifest';
  const bare = name.replace(/\.age$/, '');
  if (/_globals\.sql\.(gz|zst)$/.test(bare)) return 'globals';
  if (/\.sql\.custom(\.(gz|zst))?$/.test(bare)) return 'custom';
  if (/\.sql\.(gz|zst)$/.test(bare)) return 'plain';
  if (/\.rdb\.(gz|zst)$/.test(bare)) return 'rdb';
  return undefined;
}

export interface Profile {
  name: ProfileName;
  compression: Compression;
  /** Every data file is encrypted with age to $RECIPIENT (the shell ways) or BACKUP_ENCRYPTION_RECIPIENTS (the product). */
  encrypted: boolean;
  level: number;
  /** What every compressed file of the set ends with, before `.age`. */
  suffix: string;
  /** The file names of one set, as the product names them for this profile. */
  files(stamp: string): { custom: string; plain: string; globals: string; rdb: string };
  backupA: string;
  backupB: string;
  restoreA: string;
  restoreB: string;
  /**
   * The worker's environment for this profile, or why the product cannot run it (then (c) is reported
   * as not available instead of measured with the wrong settings).
   */
  product(productSource: string, keys: AgeKeys | undefined): { env: Record<string, string> } | { unavailable: string };
}

/** An age X25519 key pair made for the run: the recipient (public) and the file holding the identity. */
export interface AgeKeys {
  recipient: string;
  identityFile: string;
}

/** Environment names the product reads for its compression (issue 6) and encryption (issue 16). */
export const PRODUCT_COMPRESSION_ENV = 'BACKUP_COMPRESSION';
export const PRODUCT_LEVEL_ENV = 'BACKUP_COMPRESSION_LEVEL';
export const PRODUCT_RECIPIENTS_ENV = 'BACKUP_ENCRYPTION_RECIPIENTS';
export const PRODUCT_IDENTITY_ENV = 'BACKUP_ENCRYPTION_IDENTITY_FILE';

const PRELUDE = `set -euo pipefail
cd "$OUT"
# "<sha256>  <name>" lines as sha256sum writes them, by openssl (SHA-NI; coreutils' sha256sum has none).
hashfile() { openssl dgst -sha256 -r "$1" | sed 's/ \\*/  /' > "$TMPD/$1.sha"; }
`;

/** Waits until a redis-server on $RPORT answers PING (not LOADING), prints the moment, then stops it. */
const REDIS_LOAD = `redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMPD" --dbfilename dump.rdb --save '' --appendonly no \\
  --logfile "$TMPD/redis.log" &
rpid=$!
until [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ]; do
  kill -0 "$rpid" 2>/dev/null || { echo "redis-server exited while loading; see $TMPD/redis.log" >&2; exit 1; }
  sleep 0.02
done
`;
const REDIS_STOP = `echo "ready $(date +%s%N)"
redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
wait "$rpid" || true
`;

/**
 * The pieces of a script that change with encryption, so one script text serves both: what goes
 * before a `> file` that writes a set's file, and how a set's file is read back.
 */
interface Sealing {
  /** Inserted before `> "$FILE"`: nothing, or a pipe through `age -r`. */
  seal: string;
  /** `tool "$FILE"` reading a set's file: as is, or after `age -d` of it. */
  open(tool: string, file: string): string;
  /** A set's custom archive as a plain file pg_restore -j2 can seek in: the file itself, or its decryption into $TMPD. */
  archive(file: string): { prepare: string; path: string };
}

function sealing(encrypted: boolean): Sealing {
  if (!encrypted) return { seal: '', open: (tool, file) => `${tool} "${file}"`, archive: (file) => ({ prepare: '', path: `"${file}"` }) };
  return {
    seal: ' | age -r "$RECIPIENT"',
    open: (tool, file) => `age -d -i "$IDENTITY" "${file}" | ${tool}`,
    archive: (file) => ({ prepare: `age -d -i "$IDENTITY" -o "$TMPD/archive.custom" "${file}"\n`, path: '"$TMPD/archive.custom"' }),
  };
}

const gzipProfile = (level: number, encrypted: boolean): Profile => {
  const { seal, open, archive } = sealing(encrypted);
  const age = encrypted ? '.age' : '';
  const custom = archive('$CUSTOM');
  // (b) follows pg_dump's archive as it grows; pg_dump rewrites its table of contents in place at the
  // end, so the encrypted copy is made from the finished file (kept in $TMPD meanwhile).
  const dumpTo = encrypted ? '"$TMPD/$CUSTOM"' : '"$CUSTOM"';
  return {
    name: encrypted ? 'gzip-age' : 'gzip',
    compression: 'gzip',
    encrypted,
    level,
    suffix: '.gz',
    files: (stamp) => ({
      custom: `postgres_${stamp}.sql.custom${age}`,
      plain: `postgres_${stamp}.sql.gz${age}`,
      globals: `postgres_${stamp}_globals.sql.gz${age}`,
      rdb: `redis_${stamp}.rdb.gz${age}`,
    }),
    backupA: `set -euo pipefail
cd "$OUT"
${encrypted ? `pg_dump --format=custom --compress=$LEVEL "$PGURL"${seal} > "$CUSTOM"` : 'pg_dump --format=custom --compress=$LEVEL --file="$CUSTOM" "$PGURL"'}
pg_dump "$PGURL" | gzip -$LEVEL${seal} > "$PLAIN"
pg_dumpall --globals-only --dbname="$PGADMIN" | gzip -$LEVEL${seal} > "$GLOBALS"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb "$TMPD/dump.rdb" >/dev/null
gzip -$LEVEL -c "$TMPD/dump.rdb"${seal} > "$RDB"
rm -f "$TMPD/dump.rdb"
sha256sum -- "$CUSTOM" "$PLAIN" "$GLOBALS" "$RDB" > SHA256SUMS
`,
    backupB: `${PRELUDE}
# PostgreSQL, the database read once: pg_dump writes a seekable archive (so it gets the data offsets that
# let pg_restore -j2 jump to each table), and tail follows that file as it grows into pg_restore, which
# turns the same archive into SQL for pigz. The rewrite of the table of contents at the end is in place.
(
  : > ${dumpTo}
  pg_dump --format=custom --compress=$LEVEL --file=${dumpTo} "$PGURL" &
  dump=$!
  # pg_restore stops reading at the archive's last data block; cat drains what follows so tail never gets SIGPIPE.
  tail -c +1 -s 0.05 --pid=$dump -f ${dumpTo} \\
    | { pg_restore --file=-; status=$?; cat > /dev/null; exit $status; } \\
    | $GZIP_PAR -$LEVEL${seal} > "$PLAIN"
  wait $dump
${encrypted ? '  ( age -r "$RECIPIENT" -o "$CUSTOM" "$TMPD/$CUSTOM"; rm -f "$TMPD/$CUSTOM"; hashfile "$CUSTOM" ) & hashfile "$PLAIN"; wait' : '  hashfile "$CUSTOM" & hashfile "$PLAIN"; wait'}
) &
pg=$!
( pg_dumpall --globals-only --dbname="$PGADMIN" | gzip -$LEVEL${seal} > "$GLOBALS"; hashfile "$GLOBALS" ) &
globals=$!
( redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb - 2>/dev/null | $GZIP_PAR -$LEVEL${seal} > "$RDB"; hashfile "$RDB" ) &
redis=$!
wait $pg; wait $globals; wait $redis
cat "$TMPD/$CUSTOM.sha" "$TMPD/$PLAIN.sha" "$TMPD/$GLOBALS.sha" "$TMPD/$RDB.sha" > SHA256SUMS
`,
    restoreA: `set -euo pipefail
cd "$OUT"
createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
${custom.prepare}pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" ${custom.path}
${open('gzip -dc', '$RDB')} > "$TMPD/dump.rdb"
${REDIS_LOAD}${REDIS_STOP}`,
    restoreB: `set -euo pipefail
cd "$OUT"
( createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
  ${custom.prepare}  pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" ${custom.path} ) &
pg=$!
${open('$GUNZIP_PAR -dc', '$RDB')} > "$TMPD/dump.rdb"
${REDIS_LOAD}wait $pg
${REDIS_STOP}`,
    product: (source, keys) => productEnv(source, encrypted, keys, {}),
  };
};

const zstdProfile = (level: number, encrypted: boolean): Profile => {
  const { seal, open } = sealing(encrypted);
  const age = encrypted ? '.age' : '';
  return {
    name: encrypted ? 'zstd-age' : 'zstd',
    compression: 'zstd',
    encrypted,
    level,
    suffix: '.zst',
    files: (stamp) => ({
      custom: `postgres_${stamp}.sql.custom.zst${age}`,
      plain: `postgres_${stamp}.sql.zst${age}`,
      globals: `postgres_${stamp}_globals.sql.zst${age}`,
      rdb: `redis_${stamp}.rdb.zst${age}`,
    }),
    backupA: `set -euo pipefail
cd "$OUT"
pg_dump --format=custom --compress=0 "$PGURL" | zstd -q -$LEVEL${seal} > "$CUSTOM"
pg_dump "$PGURL" | zstd -q -$LEVEL${seal} > "$PLAIN"
pg_dumpall --globals-only --dbname="$PGADMIN" | zstd -q -$LEVEL${seal} > "$GLOBALS"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb "$TMPD/dump.rdb" >/dev/null
zstd -q -$LEVEL -c "$TMPD/dump.rdb"${seal} > "$RDB"
rm -f "$TMPD/dump.rdb"
sha256sum -- "$CUSTOM" "$PLAIN" "$GLOBALS" "$RDB" > SHA256SUMS
`,
    backupB: `${PRELUDE}
# PostgreSQL read once: one uncompressed custom archive, compressed as it is written and turned into SQL.
(
  mkfifo "$TMPD/custom.fifo"
  zstd -q -T2 -$LEVEL < "$TMPD/custom.fifo"${seal} > "$CUSTOM" &
  custom=$!
  pg_dump --format=custom --compress=0 "$PGURL" | tee "$TMPD/custom.fifo" | pg_restore --file=- | zstd -q -T2 -$LEVEL${seal} > "$PLAIN"
  wait $custom
  hashfile "$CUSTOM" & hashfile "$PLAIN"; wait
) &
pg=$!
( pg_dumpall --globals-only --dbname="$PGADMIN" | zstd -q -$LEVEL${seal} > "$GLOBALS"; hashfile "$GLOBALS" ) &
globals=$!
( redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb - 2>/dev/null | zstd -q -T2 -$LEVEL${seal} > "$RDB"; hashfile "$RDB" ) &
redis=$!
wait $pg; wait $globals; wait $redis
cat "$TMPD/$CUSTOM.sha" "$TMPD/$PLAIN.sha" "$TMPD/$GLOBALS.sha" "$TMPD/$RDB.sha" > SHA256SUMS
`,
    // A compressed custom archive has to be decompressed to a file for pg_restore -j2 (it was written to a
    // pipe, so it has no data offsets: -j2 still works, reading ahead for each table).
    restoreA: `set -euo pipefail
cd "$OUT"
createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
${open('zstd -q -dc', '$CUSTOM')} > "$TMPD/archive.custom"
pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" "$TMPD/archive.custom"
rm -f "$TMPD/archive.custom"
${open('zstd -q -dc', '$RDB')} > "$TMPD/dump.rdb"
${REDIS_LOAD}${REDIS_STOP}`,
    restoreB: `set -euo pipefail
cd "$OUT"
( createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
  ${open('zstd -q -dc', '$CUSTOM')} > "$TMPD/archive.custom"
  pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" "$TMPD/archive.custom" ) &
pg=$!
${open('zstd -q -dc', '$RDB')} > "$TMPD/dump.rdb"
${REDIS_LOAD}wait $pg
${REDIS_STOP}`,
    product: (source, keys) =>
      source.includes(PRODUCT_COMPRESSION_ENV)
        ? productEnv(source, encrypted, keys, { [PRODUCT_COMPRESSION_ENV]: 'zstd', [PRODUCT_LEVEL_ENV]: String(level) })
        : { unavailable: `${PRODUCT_COMPRESSION_ENV}=zstd is not available in the product yet (core/config.ts does not read it)` },
  };
};

/** The product's settings for a profile: its compression, and for an encrypted one the recipient and the identity (for the restore). */
function productEnv(source: string, encrypted: boolean, keys: AgeKeys | undefined, compression: Record<string, string>): { env: Record<string, string> } | { unavailable: string } {
  if (!encrypted) return { env: compression };
  if (!source.includes(PRODUCT_RECIPIENTS_ENV)) return { unavailable: `${PRODUCT_RECIPIENTS_ENV} is not read by the product yet (core/config.ts)` };
  if (!keys) return { unavailable: 'no age key pair was made for the run' };
  return { env: { ...compression, [PRODUCT_RECIPIENTS_ENV]: keys.recipient, [PRODUCT_IDENTITY_ENV]: keys.identityFile } };
}

export function profileFor(name: ProfileName, levels: Record<Compression, number>): Profile {
  const encrypted = name.endsWith('-age');
  return unencryptedTwin(name) === 'gzip' ? gzipProfile(levels.gzip, encrypted) : zstdProfile(levels.zstd, encrypted);
}

/** pigz when installed (parallel gzip), else gzip; the figures record which one ran. */
export function parallelGzip(): { compress: string; decompress: string; tool: string } {
  const pigz = ['/usr/bin/pigz', '/usr/local/bin/pigz', '/bin/pigz'].some((path) => existsSync(path));
  return pigz ? { compress: 'pigz -p 2', decompress: 'pigz', tool: 'pigz' } : { compress: 'gzip', decompress: 'gzip', tool: 'gzip (pigz not installed)' };
}
