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

export type ProfileName = 'gzip' | 'zstd';
export type Way = 'a' | 'b' | 'c';
export type Operation = 'backup' | 'restore';

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

/** What kind of artefact a file of a set is, recognised by its name in either profile. */
export function artefactKind(name: string): string | undefined {
  if (name === 'SHA256SUMS') return 'checksums';
  if (name === 'backup_manifest.json') return 'manifest';
  if (/_globals\.sql\.(gz|zst)$/.test(name)) return 'globals';
  if (/\.sql\.custom(\.(gz|zst))?$/.test(name)) return 'custom';
  if (/\.sql\.(gz|zst)$/.test(name)) return 'plain';
  if (/\.rdb\.(gz|zst)$/.test(name)) return 'rdb';
  return undefined;
}

export interface Profile {
  name: ProfileName;
  level: number;
  /** What every compressed file of the set ends with. */
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
  product(productSource: string): { env: Record<string, string> } | { unavailable: string };
}

/** Environment names the product reads for its compression (issue 6). */
export const PRODUCT_COMPRESSION_ENV = 'BACKUP_COMPRESSION';
export const PRODUCT_LEVEL_ENV = 'BACKUP_COMPRESSION_LEVEL';

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

const gzipProfile = (level: number): Profile => ({
  name: 'gzip',
  level,
  suffix: '.gz',
  files: (stamp) => ({
    custom: `postgres_${stamp}.sql.custom`,
    plain: `postgres_${stamp}.sql.gz`,
    globals: `postgres_${stamp}_globals.sql.gz`,
    rdb: `redis_${stamp}.rdb.gz`,
  }),
  backupA: `set -euo pipefail
cd "$OUT"
pg_dump --format=custom --compress=$LEVEL --file="$CUSTOM" "$PGURL"
pg_dump "$PGURL" | gzip -$LEVEL > "$PLAIN"
pg_dumpall --globals-only --dbname="$PGADMIN" | gzip -$LEVEL > "$GLOBALS"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb "$TMPD/dump.rdb" >/dev/null
gzip -$LEVEL -c "$TMPD/dump.rdb" > "$RDB"
rm -f "$TMPD/dump.rdb"
sha256sum -- "$CUSTOM" "$PLAIN" "$GLOBALS" "$RDB" > SHA256SUMS
`,
  backupB: `${PRELUDE}
# PostgreSQL, the database read once: pg_dump writes a seekable archive (so it gets the data offsets that
# let pg_restore -j2 jump to each table), and tail follows that file as it grows into pg_restore, which
# turns the same archive into SQL for pigz. The rewrite of the table of contents at the end is in place.
(
  : > "$CUSTOM"
  pg_dump --format=custom --compress=$LEVEL --file="$CUSTOM" "$PGURL" &
  dump=$!
  # pg_restore stops reading at the archive's last data block; cat drains what follows so tail never gets SIGPIPE.
  tail -c +1 -s 0.05 --pid=$dump -f "$CUSTOM" \\
    | { pg_restore --file=-; status=$?; cat > /dev/null; exit $status; } \\
    | $GZIP_PAR -$LEVEL > "$PLAIN"
  wait $dump
  hashfile "$CUSTOM" & hashfile "$PLAIN"; wait
) &
pg=$!
( pg_dumpall --globals-only --dbname="$PGADMIN" | gzip -$LEVEL > "$GLOBALS"; hashfile "$GLOBALS" ) &
globals=$!
( redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb - 2>/dev/null | $GZIP_PAR -$LEVEL > "$RDB"; hashfile "$RDB" ) &
redis=$!
wait $pg; wait $globals; wait $redis
cat "$TMPD/$CUSTOM.sha" "$TMPD/$PLAIN.sha" "$TMPD/$GLOBALS.sha" "$TMPD/$RDB.sha" > SHA256SUMS
`,
  restoreA: `set -euo pipefail
cd "$OUT"
createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" "$CUSTOM"
gzip -dc "$RDB" > "$TMPD/dump.rdb"
${REDIS_LOAD}${REDIS_STOP}`,
  restoreB: `set -euo pipefail
cd "$OUT"
( createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
  pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" "$CUSTOM" ) &
pg=$!
$GUNZIP_PAR -dc "$RDB" > "$TMPD/dump.rdb"
${REDIS_LOAD}wait $pg
${REDIS_STOP}`,
  product: () => ({ env: {} }),
});

const zstdProfile = (level: number): Profile => ({
  name: 'zstd',
  level,
  suffix: '.zst',
  files: (stamp) => ({
    custom: `postgres_${stamp}.sql.custom.zst`,
    plain: `postgres_${stamp}.sql.zst`,
    globals: `postgres_${stamp}_globals.sql.zst`,
    rdb: `redis_${stamp}.rdb.zst`,
  }),
  backupA: `set -euo pipefail
cd "$OUT"
pg_dump --format=custom --compress=0 "$PGURL" | zstd -q -$LEVEL > "$CUSTOM"
pg_dump "$PGURL" | zstd -q -$LEVEL > "$PLAIN"
pg_dumpall --globals-only --dbname="$PGADMIN" | zstd -q -$LEVEL > "$GLOBALS"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb "$TMPD/dump.rdb" >/dev/null
zstd -q -$LEVEL -c "$TMPD/dump.rdb" > "$RDB"
rm -f "$TMPD/dump.rdb"
sha256sum -- "$CUSTOM" "$PLAIN" "$GLOBALS" "$RDB" > SHA256SUMS
`,
  backupB: `${PRELUDE}
# PostgreSQL read once: one uncompressed custom archive, compressed as it is written and turned into SQL.
(
  mkfifo "$TMPD/custom.fifo"
  zstd -q -T2 -$LEVEL < "$TMPD/custom.fifo" > "$CUSTOM" &
  custom=$!
  pg_dump --format=custom --compress=0 "$PGURL" | tee "$TMPD/custom.fifo" | pg_restore --file=- | zstd -q -T2 -$LEVEL > "$PLAIN"
  wait $custom
  hashfile "$CUSTOM" & hashfile "$PLAIN"; wait
) &
pg=$!
( pg_dumpall --globals-only --dbname="$PGADMIN" | zstd -q -$LEVEL > "$GLOBALS"; hashfile "$GLOBALS" ) &
globals=$!
( redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb - 2>/dev/null | zstd -q -T2 -$LEVEL > "$RDB"; hashfile "$RDB" ) &
redis=$!
wait $pg; wait $globals; wait $redis
cat "$TMPD/$CUSTOM.sha" "$TMPD/$PLAIN.sha" "$TMPD/$GLOBALS.sha" "$TMPD/$RDB.sha" > SHA256SUMS
`,
  // A compressed custom archive has to be decompressed to a file for pg_restore -j2 (it was written to a
  // pipe, so it has no data offsets: -j2 still works, reading ahead for each table).
  restoreA: `set -euo pipefail
cd "$OUT"
createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
zstd -q -dc "$CUSTOM" > "$TMPD/archive.custom"
pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" "$TMPD/archive.custom"
rm -f "$TMPD/archive.custom"
zstd -q -dc "$RDB" > "$TMPD/dump.rdb"
${REDIS_LOAD}${REDIS_STOP}`,
  restoreB: `set -euo pipefail
cd "$OUT"
( createdb --maintenance-db="$PGADMIN" --template=template0 "$RESTORE_DB"
  zstd -q -dc "$CUSTOM" > "$TMPD/archive.custom"
  pg_restore --jobs=2 --exit-on-error --dbname="$RESTORE_URL" "$TMPD/archive.custom" ) &
pg=$!
zstd -q -dc "$RDB" > "$TMPD/dump.rdb"
${REDIS_LOAD}wait $pg
${REDIS_STOP}`,
  product: (source) =>
    source.includes(PRODUCT_COMPRESSION_ENV)
      ? { env: { [PRODUCT_COMPRESSION_ENV]: 'zstd', [PRODUCT_LEVEL_ENV]: String(level) } }
      : { unavailable: `${PRODUCT_COMPRESSION_ENV}=zstd is not available in the product yet (core/config.ts does not read it)` },
});

export function profileFor(name: ProfileName, levels: { gzip: number; zstd: number }): Profile {
  return name === 'gzip' ? gzipProfile(levels.gzip) : zstdProfile(levels.zstd);
}

/** pigz when installed (parallel gzip), else gzip; the figures record which one ran. */
export function parallelGzip(): { compress: string; decompress: string; tool: string } {
  const pigz = ['/usr/bin/pigz', '/usr/local/bin/pigz', '/bin/pigz'].some((path) => existsSync(path));
  return pigz ? { compress: 'pigz -p 2', decompress: 'pigz', tool: 'pigz' } : { compress: 'gzip', decompress: 'gzip', tool: 'gzip (pigz not installed)' };
}
