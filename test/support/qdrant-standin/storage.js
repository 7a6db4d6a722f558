"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", { value: true });
exports.Storage = void 0;
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
const node_crypto_1 = require("node:crypto");
const fs = __importStar(require("node:fs"));
const path = __importStar(require("node:path"));
const errors_1 = require("./errors");
const model_1 = require("./model");
const tar_1 = require("./tar");
const POINTS_ENTRY = '0/segments/points.jsonl';
const REQUIRED_ENTRIES = ['version.info', 'config.json', '0/shard_config.json', POINTS_ENTRY];
function atomicWrite(file, data) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
}
function readJsonFile(file, fallback) {
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : fallback;
}
const sortedPoints = (c) => [...c.points.values()].sort((a, b) => (0, model_1.comparePointIds)(a.id, b.id));
const pointsJsonl = (points) => points.map((p) => `${JSON.stringify(p)}\n`).join('');
/** A checksum that is well-formed but certainly not the file's — for the corruption test hook. */
const corrupted = (checksum) => (0, node_crypto_1.createHash)('sha256').update(`stand-in corrupted: ${checksum ?? ''}`).digest('hex');
class Storage {
    dataDir;
    version;
    collections = new Map();
    aliases;
    corruptNext = new Set();
    peerId;
    snapshotsRoot;
    constructor(dataDir, version) {
        this.dataDir = dataDir;
        this.version = version;
        this.snapshotsRoot = path.join(dataDir, 'snapshots');
        for (const dir of ['collections', 'snapshots', 'tmp'])
            fs.mkdirSync(path.join(dataDir, dir), { recursive: true });
        // Leftovers of uploads interrupted by a stop are garbage, as Qdrant's temp dir is.
        for (const f of fs.readdirSync(this.tmpDir))
            fs.rmSync(path.join(this.tmpDir, f), { recursive: true, force: true });
        const peerFile = path.join(dataDir, 'peer.json');
        this.peerId = readJsonFile(peerFile, {}).peer_id ?? BigInt(`0x${(0, node_crypto_1.randomBytes)(6).toString('hex')}`).toString();
        atomicWrite(peerFile, JSON.stringify({ peer_id: this.peerId }));
        this.aliases = readJsonFile(this.aliasesFile, {});
        for (const name of fs.readdirSync(path.join(dataDir, 'collections'))) {
            const dir = this.collectionDir(name);
            const config = (0, model_1.parseStoredConfig)(readJsonFile(path.join(dir, 'config.json'), null));
            const { next_operation_id } = readJsonFile(path.join(dir, 'state.json'), { next_operation_id: 0 });
            const points = new Map();
            for (const line of fs.readFileSync(path.join(dir, 'points.jsonl'), 'utf8').split('\n')) {
                if (!line)
                    continue;
                const p = JSON.parse(line);
                points.set((0, model_1.pointKey)(p.id), p);
            }
            this.collections.set(name, { name, config, points, nextOperationId: next_operation_id });
        }
    }
    get tmpDir() {
        return path.join(this.dataDir, 'tmp');
    }
    get aliasesFile() {
        return path.join(this.dataDir, 'aliases.json');
    }
    collectionDir(name) {
        return path.join(this.dataDir, 'collections', name);
    }
    snapshotDir(name) {
        return path.join(this.snapshotsRoot, name);
    }
    tmpFile(suffix) {
        return path.join(this.tmpDir, `${(0, node_crypto_1.randomUUID)()}${suffix}`);
    }
    persist(c, withConfig) {
        const dir = this.collectionDir(c.name);
        fs.mkdirSync(dir, { recursive: true });
        if (withConfig)
            atomicWrite(path.join(dir, 'config.json'), JSON.stringify(c.config, null, 2));
        atomicWrite(path.join(dir, 'points.jsonl'), pointsJsonl(sortedPoints(c)));
        atomicWrite(path.join(dir, 'state.json'), JSON.stringify({ next_operation_id: c.nextOperationId }));
    }
    // ---- collections ---------------------------------------------------------------------------
    /** Like Qdrant, every collection-scoped read or point operation also accepts an alias. */
    collection(nameOrAlias) {
        const c = this.collections.get(this.aliases[nameOrAlias] ?? nameOrAlias);
        if (!c)
            throw (0, errors_1.collectionNotFound)(nameOrAlias);
        return c;
    }
    collectionNames() {
        return [...this.collections.keys()].sort();
    }
    hasCollection(name) {
        return this.collections.has(name);
    }
    createCollection(name, config) {
        if (this.collections.has(name))
            throw (0, errors_1.alreadyExists)(`Collection \`${name}\` already exists!`);
        if (name in this.aliases) {
            throw (0, errors_1.wrongInput)(`Can't create collection with name ${name}. Alias with the same name already exists`);
        }
        const c = { name, config, points: new Map(), nextOperationId: 0 };
        this.persist(c, true);
        this.collections.set(name, c);
    }
    /** Returns false when there was nothing to delete (Qdrant answers `result: false`, not 404). Snapshots stay. */
    deleteCollection(name) {
        const remaining = Object.entries(this.aliases).filter(([, target]) => target !== name);
        if (remaining.length !== Object.keys(this.aliases).length)
            this.saveAliases(Object.fromEntries(remaining));
        if (!this.collections.delete(name))
            return false;
        fs.rmSync(this.collectionDir(name), { recursive: true, force: true });
        return true;
    }
    collectionInfo(nameOrAlias) {
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
    upsert(nameOrAlias, points) {
        const c = this.collection(nameOrAlias);
        for (const p of points)
            c.points.set((0, model_1.pointKey)(p.id), p);
        return this.commit(c);
    }
    deletePoints(nameOrAlias, ids) {
        const c = this.collection(nameOrAlias);
        for (const id of ids)
            c.points.delete((0, model_1.pointKey)(id));
        return this.commit(c);
    }
    commit(c) {
        const operationId = c.nextOperationId++;
        this.persist(c, false);
        return operationId;
    }
    /** Points ordered like Qdrant's scroll: integer ids ascending, then UUIDs. */
    sortedPoints(nameOrAlias) {
        return sortedPoints(this.collection(nameOrAlias));
    }
    // ---- aliases -------------------------------------------------------------------------------
    aliasList(collection) {
        return Object.entries(this.aliases)
            .filter(([, target]) => collection === undefined || target === collection)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([alias_name, collection_name]) => ({ alias_name, collection_name }));
    }
    saveAliases(next) {
        atomicWrite(this.aliasesFile, JSON.stringify(next, null, 2));
        this.aliases = next;
    }
    /** ChangeAliasesOperation. All actions are checked against a copy first, so a failing action changes nothing. */
    updateAliases(actions) {
        if (!Array.isArray(actions))
            throw (0, errors_1.formatError)('missing field `actions`');
        const next = { ...this.aliases };
        const str = (v, field) => {
            if (typeof v !== 'string')
                throw (0, errors_1.formatError)(`missing field \`${field}\``);
            return v;
        };
        for (const action of actions) {
            if ((0, model_1.isObject)(action) && (0, model_1.isObject)(action.create_alias)) {
                const collection = str(action.create_alias.collection_name, 'collection_name');
                const alias = str(action.create_alias.alias_name, 'alias_name');
                if (!this.collections.has(collection))
                    throw (0, errors_1.collectionNotFound)(collection);
                if (this.collections.has(alias))
                    throw (0, errors_1.alreadyExists)(`Collection \`${alias}\` already exists!`);
                next[alias] = collection; // an existing alias is silently re-pointed, as in Qdrant
            }
            else if ((0, model_1.isObject)(action) && (0, model_1.isObject)(action.delete_alias)) {
                delete next[str(action.delete_alias.alias_name, 'alias_name')]; // deleting a missing alias is not an error
            }
            else if ((0, model_1.isObject)(action) && (0, model_1.isObject)(action.rename_alias)) {
                const from = str(action.rename_alias.old_alias_name, 'old_alias_name');
                const to = str(action.rename_alias.new_alias_name, 'new_alias_name');
                const target = next[from];
                if (target === undefined)
                    throw (0, errors_1.notFound)(`Alias ${from} does not exists!`);
                delete next[from];
                next[to] = target;
            }
            else {
                throw (0, errors_1.formatError)('data did not match any variant of untagged enum AliasOperations');
            }
        }
        this.saveAliases(next);
    }
    // ---- snapshots -----------------------------------------------------------------------------
    markNextSnapshotChecksumCorrupt(collection) {
        this.corruptNext.add(collection);
    }
    uploadFailuresLeft = 0;
    failNextUploads(count) {
        this.uploadFailuresLeft = count;
    }
    /** True when this upload is one of those a test asked to fail. */
    takeUploadFailure() {
        if (this.uploadFailuresLeft === 0)
            return false;
        this.uploadFailuresLeft -= 1;
        return true;
    }
    takeCorruptFlag(collection) {
        return this.corruptNext.delete(collection);
    }
    describe(file) {
        const stat = fs.statSync(file);
        let checksum = null;
        try {
            checksum = fs.readFileSync(`${file}.checksum`, 'utf8');
        }
        catch {
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
    async createSnapshot(nameOrAlias) {
        const c = this.collection(nameOrAlias);
        const now = new Date();
        const file = (name, data) => ({ name, data: Buffer.from(data), mtime: now });
        const dir = (name) => ({ name, mtime: now });
        // Same top-level layout as a Qdrant collection snapshot; the segment format is the stand-in's own.
        const entries = [
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
        const { sha256 } = await (0, tar_1.writeTar)(tmp, entries);
        const checksum = this.takeCorruptFlag(c.name) ? corrupted(sha256) : sha256;
        const target = path.join(this.snapshotDir(c.name), name);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        // Order as in Qdrant's store_file: checksum to a temp file, snapshot into place, then the checksum.
        fs.writeFileSync(`${tmp}.checksum`, checksum);
        fs.renameSync(tmp, target);
        fs.renameSync(`${tmp}.checksum`, `${target}.checksum`);
        return this.describe(target);
    }
    listSnapshots(nameOrAlias) {
        const c = this.collection(nameOrAlias);
        const dir = this.snapshotDir(c.name);
        const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.snapshot')).sort() : [];
        const list = files.map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile()).map((f) => this.describe(f));
        if (!this.takeCorruptFlag(c.name))
            return list;
        return list.map((d) => ({ ...d, checksum: corrupted(d.checksum) }));
    }
    /** Path of an existing snapshot file; names that are not a plain file name are treated as missing, like Qdrant. */
    snapshotFile(nameOrAlias, snapshotName) {
        const c = this.collection(nameOrAlias);
        const missing = (0, errors_1.notFound)(`Snapshot ${snapshotName} not found`);
        if (!snapshotName || snapshotName !== path.basename(snapshotName) || snapshotName === '..')
            throw missing;
        const file = path.join(this.snapshotDir(c.name), snapshotName);
        if (!fs.existsSync(file) || !fs.statSync(file).isFile())
            throw missing;
        return file;
    }
    deleteSnapshot(nameOrAlias, snapshotName) {
        const file = this.snapshotFile(nameOrAlias, snapshotName);
        fs.rmSync(file);
        fs.rmSync(`${file}.checksum`, { force: true });
    }
    /**
     * Moves an uploaded file into the collection's snapshot directory under the client's file name (or a
     * UUID), where — as on a real server (qdrant/qdrant#10207) — it stays after recovery, without a checksum.
     */
    keepUploadedSnapshot(collection, tmp, filename) {
        const base = filename ? path.basename(filename.replace(/\\/g, '/')) : '';
        const target = path.join(this.snapshotDir(this.aliases[collection] ?? collection), base && base !== '..' ? base : (0, node_crypto_1.randomUUID)());
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.renameSync(tmp, target);
        return target;
    }
    /** True when `file` resolves (symlinks included) to a path inside the snapshots directory. */
    isInsideSnapshots(file) {
        const root = fs.realpathSync(this.snapshotsRoot);
        return fs.realpathSync(file).startsWith(root + path.sep);
    }
    /**
     * Replaces the collection's config and points with the snapshot's, creating the collection if needed.
     * The archive is fully read and validated before anything changes, so a bad file leaves the collection untouched.
     */
    async recoverFromSnapshot(collection, file) {
        const invalid = (why) => (0, errors_1.badRequest)(`Invalid snapshot file: ${why}`);
        let files;
        try {
            ({ files } = await (0, tar_1.readTar)(file, (n) => REQUIRED_ENTRIES.includes(n)));
        }
        catch (err) {
            if (err instanceof tar_1.TarFormatError)
                throw invalid(`not a valid tar archive: ${err.message}`);
            throw err;
        }
        const entry = (name) => {
            const data = files.get(name);
            if (!data)
                throw invalid(`archive has no ${name} (only snapshots made by the stand-in can be recovered)`);
            return data.toString('utf8');
        };
        if (!entry('version.info').trim())
            throw invalid('version.info is empty');
        entry('0/shard_config.json');
        let config;
        try {
            config = (0, model_1.parseStoredConfig)(JSON.parse(entry('config.json')));
        }
        catch (err) {
            throw invalid(`config.json: ${err.message}`);
        }
        const points = new Map();
        entry(POINTS_ENTRY)
            .split('\n')
            .forEach((line, i) => {
            if (!line)
                return;
            try {
                const raw = JSON.parse(line);
                if (!(0, model_1.isObject)(raw))
                    throw new Error('not an object');
                const id = (0, model_1.parsePointId)(raw.id);
                const payload = (0, model_1.isObject)(raw.payload) ? raw.payload : {};
                points.set((0, model_1.pointKey)(id), { id, vector: (0, model_1.parseVector)(raw.vector, config, false), payload });
            }
            catch (err) {
                throw invalid(`${POINTS_ENTRY} line ${i + 1}: ${err.message}`);
            }
        });
        const name = this.aliases[collection] ?? collection;
        const existing = this.collections.get(name);
        if (existing) {
            const [have, got] = [existing.config.params, config.params];
            if (!(0, model_1.sameJson)(have.vectors, got.vectors)) {
                throw (0, errors_1.wrongInput)(`Snapshot is not compatible with existing collection: Collection vectors: ${JSON.stringify(have.vectors)} Snapshot Vectors: ${JSON.stringify(got.vectors)}`);
            }
            if (have.shard_number !== got.shard_number) {
                throw (0, errors_1.wrongInput)(`Snapshot is not compatible with existing collection: Collection shard number: ${have.shard_number} Snapshot shard number: ${got.shard_number}`);
            }
        }
        const c = { name, config, points, nextOperationId: existing?.nextOperationId ?? 0 };
        this.persist(c, true);
        this.collections.set(name, c);
    }
}
exports.Storage = Storage;
