/**
 * On-disk state of the stand-in. Everything lives under `dataDir` so that a restart with the same
 * directory sees the same collections, points, aliases and snapshots:
 *
 *   peer.json                               { peer_id } — part of snapshot names, like Qdrant's peer id
 *   aliases.json                            { alias: collection }
 *   collections/<name>/config.json          CollectionConfig
 *   collections/<name>/payload_index.json   { field: PayloadIndexInfo without points }
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
import { alreadyExists, ApiError, badRequest, collectionNotFound, formatError, notFound, wrongInput } from './errors';
import {
  type CollectionConfig,
  type Point,
  type PointId,
  comparePointIds,
  isObject,
  parsePointId,
  parseStoredConfig,
  parseUpsert,
  parseVector,
  pointKey,
  sameJson,
} from './requests';
import { COLLECTION_FORMAT_VERSION, readSnapshot, SnapshotFormatError, writeSnapshot } from './snapshot-files';

export interface Collection {
  name: string;
  config: CollectionConfig;
  /** Payload indexes: field → `{data_type, params?}` as GET /collections/{name} reports them (without `points`). */
  payloadSchema: Record<string, Record<string, unknown>>;
  points: Map<string, Point>;
  nextOperationId: number;
}

export interface SnapshotDescription {
  name: string;
  creation_time: string | null;
  size: number;
  checksum: string | null;
}

/** The shard a point lives in: Qdrant hashes the id; any stable spread will do here. */
function shardOf(id: PointId, shards: number): number {
  const digest = createHash('sha256').update(pointKey(id)).digest();
  return digest.readUInt32BE(0) % shards;
}

function atomicWrite(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function readJsonFile<T>(file: string, fallback: T): T {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : fallback;
}

const sortedPoints = (c: Collection): Point[] => [...c.points.values()].sort((a, b) => comparePointIds(a.id, b.id));
async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

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
      const payloadSchema = readJsonFile<Collection['payloadSchema']>(path.join(dir, 'payload_index.json'), {});
      const points = new Map<string, Point>();
      for (const line of fs.readFileSync(path.join(dir, 'points.jsonl'), 'utf8').split('\n')) {
        if (!line) continue;
        const p = JSON.parse(line) as Point;
        points.set(pointKey(p.id), p);
      }
      this.collections.set(name, { name, config, payloadSchema, points, nextOperationId: next_operation_id });
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
    if (withConfig) {
      atomicWrite(path.join(dir, 'config.json'), JSON.stringify(c.config, null, 2));
      atomicWrite(path.join(dir, 'payload_index.json'), JSON.stringify(c.payloadSchema, null, 2));
    }
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
    const c: Collection = { name, config, payloadSchema: {}, points: new Map(), nextOperationId: 0 };
    this.persist(c, true);
    this.collections.set(name, c);
  }

  /** PUT /collections/{name}/index: a payload index on `field` (replacing one there). */
  createIndex(nameOrAlias: string, field: string, schema: Record<string, unknown>): number {
    const c = this.collection(nameOrAlias);
    c.payloadSchema[field] = schema;
    this.persist(c, true);
    return c.nextOperationId++;
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
      segments_count: c.config.params.shard_number,
      config: c.config,
      payload_schema: Object.fromEntries(
        Object.entries(c.payloadSchema).map(([field, schema]) => [
          field,
          { ...schema, points: [...c.points.values()].filter((p) => p.payload[field] !== undefined).length },
        ]),
      ),
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

  /**
   * ChangeAliasesOperation, as Qdrant applies it: one action after the other, each saved at once; an
   * action that fails ends the request with its error and keeps the ones before it (Qdrant's
   * `TableOfContent::update_aliases` persists the alias mapping per action).
   */
  updateAliases(actions: unknown): void {
    if (!Array.isArray(actions)) throw formatError('missing field `actions`');
    const str = (v: unknown, field: string): string => {
      if (typeof v !== 'string') throw formatError(`missing field \`${field}\``);
      return v;
    };
    for (const action of actions) {
      if (!isObject(action) || !(isObject(action.create_alias) || isObject(action.delete_alias) || isObject(action.rename_alias))) {
        throw formatError('data did not match any variant of untagged enum AliasOperations');
      }
    }
    for (const action of actions as Record<string, Record<string, unknown>>[]) {
      if (this.aliasActionsBeforeFailure !== undefined && this.aliasActionsBeforeFailure-- === 0) {
        this.aliasActionsBeforeFailure = undefined;
        throw new ApiError(500, 'Service internal error: stand-in: alias action refused by a test (failAliasActionAfter)');
      }
      const next = { ...this.aliases };
      if (action.create_alias) {
        const collection = str(action.create_alias.collection_name, 'collection_name');
        const alias = str(action.create_alias.alias_name, 'alias_name');
        if (!this.collections.has(collection)) throw collectionNotFound(collection);
        if (this.collections.has(alias)) throw alreadyExists(`Collection \`${alias}\` already exists!`);
        next[alias] = collection; // an existing alias is silently re-pointed, as in Qdrant
      } else if (action.delete_alias) {
        delete next[str(action.delete_alias.alias_name, 'alias_name')]; // deleting a missing alias is not an error
      } else if (action.rename_alias) {
        const from = str(action.rename_alias.old_alias_name, 'old_alias_name');
        const to = str(action.rename_alias.new_alias_name, 'new_alias_name');
        const target = next[from];
        if (target === undefined) throw notFound(`Alias ${from} does not exists!`);
        delete next[from];
        next[to] = target;
      }
      this.saveAliases(next);
    }
  }

  private aliasActionsBeforeFailure: number | undefined;

  /** Test hook: after `count` more alias actions succeed, the next one fails with HTTP 500. */
  failAliasActionAfter(count: number): void {
    this.aliasActionsBeforeFailure = count;
  }

  // ---- snapshots -----------------------------------------------------------------------------

  markNextSnapshotChecksumCorrupt(collection: string): void {
    this.corruptNext.add(collection);
  }

  private uploadFailures: { left: number; afterCreate: boolean } = { left: 0, afterCreate: false };

  /**
   * Test hook: the next `count` uploads fail with HTTP 500 once the body was received; `afterCreate`:
   * only after the recovery created the (missing) collection, empty, as a real Qdrant can leave one.
   */
  failNextUploads(count: number, afterCreate = false): void {
    this.uploadFailures = { left: count, afterCreate };
  }

  /** True when this upload is one of those a test asked to fail at this `stage`. */
  takeUploadFailure(stage: 'received' | 'created'): boolean {
    const { left, afterCreate } = this.uploadFailures;
    if (left === 0 || afterCreate !== (stage === 'created')) return false;
    this.uploadFailures.left -= 1;
    return true;
  }

  private readonly writesAfterSnapshot = new Map<string, unknown[]>();

  /** Test hook: right after the next snapshot of `collection` is taken, `points` are upserted (a live writer). */
  writeAfterNextSnapshot(collection: string, points: unknown[]): void {
    this.writesAfterSnapshot.set(collection, points);
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
    const shards = Array.from({ length: c.config.params.shard_number }, () => ({ records: [] as string[], peerId: this.peerId }));
    for (const point of sortedPoints(c)) shards[shardOf(point.id, shards.length)]!.records.push(JSON.stringify(point));
    const contents = { versionInfo: COLLECTION_FORMAT_VERSION, config: c.config, payloadSchema: c.payloadSchema, shards };
    const name = `${c.name}-${this.peerId}-${now.toISOString().slice(0, 19).replace(/[T:]/g, '-')}.snapshot`;
    const tmp = this.tmpFile('.snapshot');
    await writeSnapshot(tmp, `${tmp}.d`, contents);
    const sha256 = await sha256File(tmp);
    const checksum = this.takeCorruptFlag(c.name) ? corrupted(sha256) : sha256;

    const target = path.join(this.snapshotDir(c.name), name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // Order as in Qdrant's store_file: checksum to a temp file, snapshot into place, then the checksum.
    fs.writeFileSync(`${tmp}.checksum`, checksum);
    fs.renameSync(tmp, target);
    fs.renameSync(`${tmp}.checksum`, `${target}.checksum`);
    const writes = this.writesAfterSnapshot.get(c.name);
    if (writes) {
      this.writesAfterSnapshot.delete(c.name);
      this.upsert(c.name, parseUpsert({ points: writes }, c.config));
    }
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
   * Recovers `collection` from a snapshot file, as Qdrant's `recover.rs` does. A missing collection is
   * created from the snapshot's config and payload indexes. An existing one must have the same
   * vectors, sparse vectors and shard count (else "Snapshot is not compatible"), and then only its
   * shard data (points) is replaced: its own config and payload indexes stay, as on a real server
   * (`replica_set/snapshots.rs`). The archive is fully read first: a bad file changes nothing.
   */
  async recoverFromSnapshot(collection: string, file: string, failAfterCreate = false): Promise<void> {
    const invalid = (why: string) => badRequest(`Invalid snapshot file: ${why}`);
    let contents;
    try {
      contents = await readSnapshot(file, this.tmpFile('.unpacked'));
    } catch (err) {
      if (err instanceof SnapshotFormatError) throw invalid(err.message);
      throw err;
    }
    if (!/^0\.4\.\d+$/.test(contents.versionInfo)) {
      throw invalid(`collection format ${JSON.stringify(contents.versionInfo)} is not compatible with ${COLLECTION_FORMAT_VERSION}`);
    }
    let config: CollectionConfig;
    try {
      config = parseStoredConfig(contents.config);
    } catch (err) {
      throw invalid(`config.json: ${(err as Error).message}`);
    }
    if (contents.shards.length !== config.params.shard_number) {
      throw invalid(`${contents.shards.length} shard folders, config.json says ${config.params.shard_number}`);
    }
    const points = new Map<string, Point>();
    contents.shards.forEach((shard, s) =>
      shard.records.forEach((line, i) => {
        try {
          const raw: unknown = JSON.parse(line);
          if (!isObject(raw)) throw new Error('not an object');
          const id = parsePointId(raw.id);
          const payload = isObject(raw.payload) ? raw.payload : {};
          points.set(pointKey(id), { id, vector: parseVector(raw.vector, config, false), payload });
        } catch (err) {
          throw invalid(`shard ${s} WAL record ${i + 1}: ${(err as Error).message}`);
        }
      }),
    );

    const name = this.aliases[collection] ?? collection;
    const existing = this.collections.get(name);
    if (existing) {
      const [have, got] = [existing.config.params, config.params];
      if (!sameJson(have.vectors, got.vectors) || !sameJson(have.sparse_vectors ?? null, got.sparse_vectors ?? null)) {
        throw wrongInput(
          `Snapshot is not compatible with existing collection: Collection vectors: ${JSON.stringify(have.vectors)} Snapshot Vectors: ${JSON.stringify(got.vectors)}`,
        );
      }
      if (have.shard_number !== got.shard_number) {
        throw wrongInput(
          `Snapshot is not compatible with existing collection: Collection shard number: ${have.shard_number} Snapshot shard number: ${got.shard_number}`,
        );
      }
      existing.points = points;
      this.persist(existing, false);
      return;
    }
    const payloadSchema = isObject(contents.payloadSchema) ? (contents.payloadSchema as Collection['payloadSchema']) : {};
    const created: Collection = { name, config, payloadSchema, points: new Map(), nextOperationId: 0 };
    this.persist(created, true);
    this.collections.set(name, created);
    if (failAfterCreate) throw new ApiError(500, 'Service internal error: stand-in: recovery failed after the collection was created (failNextUploads)');
    created.points = points;
    this.persist(created, false);
  }
}
