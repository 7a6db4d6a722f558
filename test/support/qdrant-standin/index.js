"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.startQdrantStandIn = startQdrantStandIn;
const http_1 = require("./http");
const routes_1 = require("./routes");
const storage_1 = require("./storage");
async function startQdrantStandIn(options) {
    const version = options.version ?? '1.15.5';
    const storage = new storage_1.Storage(options.dataDir, version);
    const { server, drain } = (0, http_1.createServer)((0, routes_1.routes)(storage, version), options.apiKey);
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
        });
    });
    const { port } = server.address();
    return {
        url: `http://127.0.0.1:${port}`,
        port,
        dataDir: options.dataDir,
        ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
        version,
        async stop() {
            const closed = new Promise((resolve) => server.close(() => resolve()));
            server.closeAllConnections();
            await closed;
            await drain();
        },
        corruptNextSnapshotChecksum(collection) {
            storage.markNextSnapshotChecksumCorrupt(collection);
        },
        failNextUploads(count) {
            storage.failNextUploads(count);
        },
    };
}
