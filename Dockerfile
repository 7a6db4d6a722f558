# The backup service: the Temporal worker of scholaria-backup, its CLI and the specification's scripts
# (/scripts/backup.sh, /scripts/restore.sh, /scripts/backup-scheduler.sh).
#
#   docker build -t scholaria-backup .          (docker-compose.yml builds it as the `backup` service)
#
# The tools the activities run must read what the servers write: pg_dump/pg_restore of PostgreSQL 15,
# the major version of the server in docker-compose.yml (postgres:15.x), and redis-server /
# redis-check-rdb of Redis 7.0 (Debian bookworm's redis-server is 7.0.15, the server is redis:7.0.15),
# which load and check the server's RDB files during verify and restore. zstd compresses and reads the
# sets of BACKUP_COMPRESSION=zstd; pigz gzips on every core (Node's zlib otherwise).

# The product (client, worker, workflows, activities, core) compiled to dist/ with the development packages (TypeScript), which the image does not carry.
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /build
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY client ./client
COPY worker ./worker
COPY workflows ./workflows
COPY activities ./activities
COPY core ./core
RUN node_modules/.bin/tsc -p tsconfig.build.json && touch dist/.built

FROM node:24.22.3-bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends age ca-certificates curl pigz postgresql-client-15 redis-server tini zstd \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    BACKUP_DIR=/backup \
    LOG_DIR=/var/log/scholaria \
    BACKUP_WORKFLOW_BUNDLE=/opt/scholaria-backup/workflow-bundle.js

WORKDIR /opt/scholaria-backup

# Dependencies first, so a source change does not reinstall them. The CLI and the worker run dist/;
# tsx, a runtime dependency, runs the bundling and health-check scripts (and the sources if dist/ is stale).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY client ./client
COPY worker ./worker
COPY workflows ./workflows
COPY activities ./activities
COPY core ./core
COPY --from=build /build/dist ./dist
COPY scripts ./scripts
COPY docker ./docker

# The workflows bundled once here (the worker then starts without webpack); the CLI on PATH; the
# scripts at /scripts as the specification calls them; an unprivileged user owning only its volumes.
RUN node --import tsx docker/bundle-workflows.ts "${BACKUP_WORKFLOW_BUNDLE}" \
 && ln -s /opt/scholaria-backup/bin/scholaria-backup.js /usr/local/bin/scholaria-backup \
 && ln -s /opt/scholaria-backup/scripts /scripts \
 && groupadd --system --gid 10001 scholaria \
 && useradd --system --uid 10001 --gid scholaria --home-dir /var/lib/scholaria-backup --create-home --shell /usr/sbin/nologin scholaria \
 && mkdir -p /backup /var/log/scholaria \
 && chown scholaria:scholaria /backup /var/log/scholaria

USER scholaria
VOLUME ["/backup", "/var/log/scholaria"]

# Liveness: the worker of this container polls its task queue and /backup is writable (see
# docker/healthcheck.ts). The backups' own health is `/scripts/backup-scheduler.sh health-check`.
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s --retries=3 \
  CMD ["node", "--import", "tsx", "/opt/scholaria-backup/docker/healthcheck.ts"]

# tini as PID 1 reaps the children of pg_dump, pg_restore and redis-server and passes SIGTERM on to
# the worker, which then gives running activities 20 s to finish (stop_grace_period in compose).
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["scholaria-backup", "worker"]
