/**
 * On-disk state of the stand-in. Everything lives under `dataDir` so that a restart with the same
 * directory sees the same collections, points, aliases and snapshots:
 *
 *   peer.json                               { peer_id } — part of snapshot names, like Qdrant's peer id
 *   aliases.json                            { alias: collection }
 *   collections/<name>/config.json          CollectionConfig
 *   collections/<name>/state.json           { next_operation_id }
 *   collections/<name>/points.jsonl         one point per line
 *   snapshots/<name>/<file>.snapshot        plus `<file>.snapshot.checksum` (sha256 hex), as Qdrant keeps them
 *   tmp/                                    uploads and archives being written
 *
 * Memory mirrors disk; every mutation is written through synchronously (temp file + rename) before
 * the HTTP response, so no request can observe state that a restart would lose.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alreadyExists, badRequest, collectionNotFound, formatError, notFound, wrongInput } from './errors';
import {
  type CollectionConfig,
  type Point,
  type PointId,
  comparePointIds,
  isObject,
  parsePointId,
  parseStoredConfig,
  parseVector,
  pointKey,
  sameJson,
} from './model';
import { readTar, TarFormatError, writeTar, type TarEntry } from './tar';

export interface Collection {
  name: string;
  config: CollectionConfig;
  points: Map<string, Point>;
  nextOperationId: number;
}

export interface SnapshotDescription {
  name: string;
  creation_time: string | null;
  size: number;
  checksum: string | null;
}

const POINTS_ENTRY = '0/segments/points.jsonl';
const REQUIRED_ENTRIES = ['version.info', 'config.json', '0/shard_config.json', POINTS_ENTRY];

function atomicWrite(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function readJsonFile<T>(file: string, fallback: T): T {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : fallback;
}

const sortedPoints = (c: Collection): Point[] => [...c.points.values()].sort((a, b) => comparePointIds(a.id, b.id));
const pointsJsonl = (points: Point[]): string => points.map((p) => `${JSON.stringify(p)}\n`).join('');

/** A checksum that is well-formed but certainly not the file's — for the corruption test hook. */
const corrupted = (checksum: string | null): string =>
  createHash('sha256').update(`stand-in corrupted: ${checksum ?? ''}`).digest('hex');

export class Storage {
  private readonly collections = new Map<string, Collection>();
  private aliases: Record<string, string>;
  private readonly corruptNext = new Set<string>();
  readonly peerId: string;
  readonly snapshotsRoot: string;

  constructor(
    readonly dataDir: string,
    readonly version: string,
  ) {
    this.snapshotsRoot = path.join(dataDir, 'snapshots');
    for (const dir of ['collections', 'snapshots', 'tmp']) fs.mkdirSync(path.join(dataDir, dir), { recursive: true });
    // Leftovers of uploads interrupted by a stop are garbage, as Qdrant's temp dir is.
    for (const f of fs.readdirSync(this.tmpDir)) fs.rmSync(path.join(this.tmpDir, f), { recursive: true, force: true });

    const peerFile = path.join(dataDir, 'peer.json');
    this.peerId = readJsonFile<{ peer_id?: string }>(peerFile, {}).peer_id ?? BigInt(`0x${randomBytes(6).toString('hex')}`).toString();
    atomicWrite(peerFile, JSON.stringify({ peer_id: this.peerId }));

    this.aliases = readJsonFile<Record<string, string>>(this.aliasesFile, {});
    for (const name of fs.readdirSync(path.join(dataDir, 'collections'))) {
      const dir = this.collectionDir(name);
      const config = parseStoredConfig(readJsonFile(path.join(dir, 'config.json'), null));
      const { next_operation_id } = readJsonFile(path.join(dir, 'state.json'), { next_operation_id: 0 });
      const points = new Map<string, Point>();
      for (const line of fs.readFileSync(path.join(dir, 'points.jsonl'), 'utf8').split('\n')) {
        if (!line) continue;
        const p = JSON.parse(line) as Point;
        points.set(pointKey(p.id), p);
      }
      this.collections.set(name, { name, config, points, nextOperationId: next_operation_id });
    }
  }

  get tmpDir(): string {
    return path.join(this.dataDir, 'tmp');
  }
  private get aliasesFile(): string {
    return path.join(this.dataDir, 'aliases.json');
  }
  private collectionDir(name: string): string {
    return path.join(this.dataDir, 'collections', name);
  }
  private snapshotDir(name: string): string {
    return path.join(this.snapshotsRoot, name);
  }
  tmpFile(suffix: string): string {
    return path.join(this.tmpDir, `${randomUUID()}${suffix}`);
  }

  private persist(c: Collection, withConfig: boolean): void {
    const dir = this.collectionDir(c.name);
    fs.mkdirSync(dir, { recursive: true });
    if (withConfig) atomicWrite(path.join(dir, 'config.json'), JSON.stringify(c.config, null, 2));
    atomicWrite(path.join(dir, 'points.jsonl'), pointsJsonl(sortedPoints(c)));
    atomicWrite(path.join(dir, 'state.json'), JSON.stringify({ next_operation_id: c.nextOperationId }));
  }

  // ---- collections ---------------------------------------------------------------------------

  /** Like Qdrant, every collection-scoped read or point operation also accepts an alias. */
  collection(nameOrAlias: string): Collection {
    const c = this.collections.get(this.aliases[nameOrAlias] ?? nameOrAlias);
    if (!c) throw collectionNotFound(nameOrAlias);
    return c;
  }

  collectionNames(): string[] {
    return [...this.collections.keys()].sort();
  }

  hasCollection(name: string): boolean {
    return this.collections.has(name);
  }

  createCollection(name: string, config: CollectionConfig): void {
    if (this.collections.has(name)) throw alreadyExists(`Collection \`${name}\` already exists!`);
    if (name in this.aliases) {
      throw wrongInput(`Can't create collection with name ${name}. Alias with the same name already exists`);
    }
    const c: Collection = { name, config, points: new Map(), nextOperationId: 0 };
    this.persist(c, true);
    this.collections.set(name, c);
  }

  /** Returns false when there was nothing to delete (Qdrant answers `result: false`, not 404). Snapshots stay. */
  deleteCollection(name: string): boolean {
    const remaining = Object.entries(this.aliases).filter(([, target]) => target !== name);
    if (remaining.length !== Object.keys(this.aliases).length) this.saveAliases(Object.fromEntries(remaining));
    if (!this.collections.delete(name)) return false;
    fs.rmSync(this.collectionDir(name), { recursive: true, force: true });
    return true;
  }

  collectionInfo(nameOrAlias: string): Record<string, unknown> {
    const c = this.collection(nameOrAlias);
    return {
      status: 'green',
      optimizer_status: 'ok',
      // Qdrant only builds HNSW above indexing_threshold; small test collections report 0 like a real server.
      indexed_vectors_count: 0,
      points_count: c.points.size,
      segments_count: 1,
      config: c.config,
      payload_schema: {},
    };
  }

  upsert(nameOrAlias: string, points: Point[]): number {
    const c = this.collection(nameOrAlias);
    for (const p of points) c.points.set(pointKey(p.id), p);
    return this.commit(c);
  }

  deletePoints(nameOrAlias: string, ids: PointId[]): number {
    const c = this.collection(nameOrAlias);
    for (const id of ids) c.points.delete(pointKey(id));
    return this.commit(c);
  }

  private commit(c: Collection): number {
    const operationId = c.nextOperationId++;
    this.persist(c, false);
    return operationId;
  }

  /** Points ordered like Qdrant's scroll: integer ids ascending, then UUIDs. */
  sortedPoints(nameOrAlias: string): Point[] {
    return sortedPoints(this.collection(nameOrAlias));
  }

  // ---- aliases -------------------------------------------------------------------------------

  aliasList(collection?: string): { alias_name: string; collection_name: string }[] {
    return Object.entries(this.aliases)
      .filter(([, target]) => collection === undefined || target === collection)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([alias_name, collection_name]) => ({ alias_name, collection_name }));
  }

  private saveAliases(next: Record<string, string>): void {
    atomicWrite(this.aliasesFile, JSON.stringify(next, null, 2));
    this.aliases = next;
  }

  /** ChangeAliasesOperation. All actions are checked against a copy first, so a failing action changes nothing. */
  updateAliases(actions: unknown): void {
    if (!Array.isArray(actions)) throw formatError('missing field `actions`');
    const next = { ...this.aliases };
    const str = (v: unknown, field: string): string => {
      if (typeof v !== 'string') throw formatError(`missing field \`${field}\``);
      return v;
    };
    for (const action of actions) {
      if (isObject(action) && isObject(action.create_alias)) {
        const collection = str(action.create_alias.collection_name, 'collection_name');
        const alias = str(action.create_alias.alias_name, 'alias_name');
        if (!this.collections.has(collection)) throw collectionNotFound(collection);
        if (this.collections.has(alias)) throw alreadyExists(`Collection \`${alias}\` already exists!`);
        next[alias] = collection; // an existing alias is silently re-pointed, as in Qdrant
      } else if (isObject(action) && isObject(action.delete_alias)) {
        delete next[str(action.delete_alias.alias_name, 'alias_name')]; // deleting a missing alias is not an error
      } else if (isObject(action) && isObject(action.rename_alias)) {
        const from = str(action.rename_alias.old_alias_name, 'old_alias_name');
        const to = str(action.rename_alias.new_alias_name, 'new_alias_name');
        const target = next[from];
        if (target === undefined) throw notFound(`Alias ${from} does not exists!`);
        delete next[from];
        next[to] = target;
      } else {
        throw formatError('data did not match any variant of untagged enum AliasOperations');
      }
    }
    this.saveAliases(next);
  }

  // ---- snapshots -----------------------------------------------------------------------------

  markNextSnapshotChecksumCorrupt(collection: string): void {
    this.corruptNext.add(collection);
  }

  private uploadFailuresLeft = 0;

  failNextUploads(count: number): void {
    this.uploadFailuresLeft = count;
  }

  /** True when this upload is one of those a test asked to fail. */
  takeUploadFailure(): boolean {
    if (this.uploadFailuresLeft === 0) return false;
    this.uploadFailuresLeft -= 1;
    return true;
  }

  private takeCorruptFlag(collection: string): boolean {
    return this.corruptNext.delete(collection);
  }

  private describe(file: string): SnapshotDescription {
    const stat = fs.statSync(file);
    let checksum: string | null = null;
    try {
      checksum = fs.readFileSync(`${file}.checksum`, 'utf8');
    } catch {
      // Uploaded snapshots have no sidecar on a real server either.
    }
    return {
      name: path.basename(file),
      // Qdrant reports the file's birth time as naive UTC without 'Z', or null when the FS has none.
      creation_time: stat.birthtimeMs > 0 ? stat.birthtime.toISOString().slice(0, 19) : null,
      size: stat.size,
      checksum,
    };
  }

  /**
   * Writes `{collection}-{peer_id}-{YYYY-MM-DD-HH-MM-SS}.snapshot` and its checksum sidecar. The points
   * are captured synchronously, so the snapshot is the state at the moment of the request. A second
   * snapshot within the same second overwrites the first, as on a real server.
   */
  async createSnapshot(nameOrAlias: string): Promise<SnapshotDescription> {
    const c = this.collection(nameOrAlias);
    const now = new Date();
    const file = (name: string, data: string): TarEntry => ({ name, data: Buffer.from(data), mtime: now });
    const dir = (name: string): TarEntry => ({ name, mtime: now });
    // Same top-level layout as a Qdrant collection snapshot; the segment format is the stand-in's own.
    const entries: TarEntry[] = [
      file('version.info', this.version),
      file('config.json', JSON.stringify(c.config)),
      file('payload_index.json', JSON.stringify({ schema: {} })),
      dir('0/'),
      file('0/shard_config.json', JSON.stringify({ type: 'Local' })),
      file('0/replica_state.json', JSON.stringify({ is_local: true, this_peer_id: Number(this.peerId) })),
      dir('0/segments/'),
      file(POINTS_ENTRY, pointsJsonl(sortedPoints(c))),
    ];
    const name = `${c.name}-${this.peerId}-${now.toISOString().slice(0, 19).replace(/[T:]/g, '-')}.snapshot`;
    const tmp = this.tmpFile('.snapshot');
    const { sha256 } = await writeTar(tmp, entries);
    const checksum = this.takeCorruptFlag(c.name) ? corrupted(sha256) : sha256;

    const target = path.join(this.snapshotDir(c.name), name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // Order as in Qdrant's store_file: checksum to a temp file, snapshot into place, then the checksum.
    fs.writeFileSync(`${tmp}.checksum`, checksum);
    fs.renameSync(tmp, target);
    fs.renameSync(`${tmp}.checksum`, `${target}.checksum`);
    return this.describe(target);
  }

  listSnapshots(nameOrAlias: string): SnapshotDescription[] {
    const c = this.collection(nameOrAlias);
    const dir = this.snapshotDir(c.name);
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.snapshot')).sort() : [];
    const list = files.map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile()).map((f) => this.describe(f));
    if (!this.takeCorruptFlag(c.name)) return list;
    return list.map((d) => ({ ...d, checksum: corrupted(d.checksum) }));
  }

  /** Path of an existing snapshot file; names that are not a plain file name are treated as missing, like Qdrant. */
  snapshotFile(nameOrAlias: string, snapshotName: string): string {
    const c = this.collection(nameOrAlias);
    const missing = notFound(`Snapshot ${snapshotName} not found`);
    if (!snapshotName || snapshotName !== path.basename(snapshotName) || snapshotName === '..') throw missing;
    const file = path.join(this.snapshotDir(c.name), snapshotName);
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw missing;
    return file;
  }

  deleteSnapshot(nameOrAlias: string, snapshotName: string): void {
    const file = this.snapshotFile(nameOrAlias, snapshotName);
    fs.rmSync(file);
    fs.rmSync(`${file}.checksum`, { force: true });
  }

  /**
   * Moves an uploaded file into the collection's snapshot directory under the client's file name (or a
   * UUID), where — as on a real server (qdrant/qdrant#10207) — it stays after recovery, without a checksum.
   */
  keepUploadedSnapshot(collection: string, tmp: string, filename: string | undefined): string {
    const base = filename ? path.basename(filename.replace(/\\/g, '/')) : '';
    const target = path.join(this.snapshotDir(this.aliases[collection] ?? collection), base && base !== '..' ? base : randomUUID());
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.renameSync(tmp, target);
    return target;
  }

  /** True when `file` resolves (symlinks included) to a path inside the snapshots directory. */
  isInsideSnapshots(file: string): boolean {
    const root = fs.realpathSync(this.snapshotsRoot);
    return fs.realpathSync(file).startsWith(root + path.sep);
  }

  /**
   * Replaces the collection's config and points with the snapshot's, creating the collection if needed.
   * The archive is fully read and validated before anything changes, so a bad file leaves the collection untouched.
   */
  async recoverFromSnapshot(collection: string, file: string): Promise<void> {
    const invalid = (why: string) => badRequest(`Invalid snapshot file: ${why}`);
    let files: Map<string, Buffer>;
    try {
      ({ files } = await readTar(file, (n) => REQUIRED_ENTRIES.includes(n)));
    } catch (err) {
      if (err instanceof TarFormatError) throw invalid(`not a valid tar archive: ${err.message}`);
      throw err;
    }
    const entry = (name: string): string => {
      const data = files.get(name);
      if (!data) throw invalid(`archive has no ${name} (only snapshots made by the stand-in can be recovered)`);
      return data.toString('utf8');
    };
    if (!entry('version.info').trim()) throw invalid('version.info is empty');
    entry('0/shard_config.json');

    let config: CollectionConfig;
    try {
      config = parseStoredConfig(JSON.parse(entry('config.json')));
    } catch (err) {
      throw invalid(`config.json: ${(err as Error).message}`);
    }
    const points = new Map<string, Point>();
    entry(POINTS_ENTRY)
      .split('\n')
      .forEach((line, i) => {
        if (!line) return;
        try {
          const raw: unknown = JSON.parse(line);
          if (!isObject(raw)) throw new Error('not an object');
          const id = parsePointId(raw.id);
          const payload = isObject(raw.payload) ? raw.payload : {};
          points.set(pointKey(id), { id, vector: parseVector(raw.vector, config, false), payload });
        } catch (err) {
          throw invalid(`${POINTS_ENTRY} line ${i + 1}: ${(err as Error).message}`);
        }
      });

    const name = this.aliases[collection] ?? collection;
    const existing = this.collections.get(name);
    if (existing) {
      const [have, got] = [existing.config.params, config.params];
      if (!sameJson(have.vectors, got.vectors)) {
        throw wrongInput(
          `Snapshot is not compatible with existing collection: Collection vectors: ${JSON.stringify(have.vectors)} Snapshot Vectors: ${JSON.stringify(got.vectors)}`,
        );
      }
      if (have.shard_number !== got.shard_number) {
        throw wrongInput(
          `Snapshot is not compatible with existing collection: Collection shard number: ${have.shard_number} Snapshot shard number: ${got.shard_number}`,
        );
      }
    }
    const c: Collection = { name, config, points, nextOperationId: existing?.nextOperationId ?? 0 };
    this.persist(c, true);
    this.collections.set(name, c);
  }
}
