#!/bin/sh
# One-shot job (temporalio/admin-tools image) run before the Temporal server starts: brings the schema
# of Temporal's own PostgreSQL databases to the version this image knows. Both steps are idempotent:
# on a database already set up, setup-schema leaves the version alone and update-schema applies only
# newer migrations, so every `up` may run it. The two databases themselves are created by the
# temporal-postgresql container on its first start (POSTGRES_DB and initdb/), not here.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS must name the PostgreSQL host of Temporal}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${POSTGRES_PWD:?POSTGRES_PWD must be set}"
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
SCHEMA_ROOT="${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}"
# temporal-sql-tool reads the password from SQL_PASSWORD, which keeps it off the command line.
export SQL_PASSWORD="${POSTGRES_PWD}"

tries=0
until nc -z "${POSTGRES_SEEDS}" "${DB_PORT}"; do
  tries=$((tries + 1))
  if [ "${tries}" -ge 60 ]; then
    echo "PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT} did not answer within 2 minutes" >&2
    exit 1
  fi
  sleep 2
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -p "${DB_PORT}" -u "${POSTGRES_USER}" "$@"
}

for pair in "${DBNAME}:temporal" "${VISIBILITY_DBNAME}:visibility"; do
  database="${pair%%:*}"
  schema="${pair#*:}"
  echo "schema of ${database} (${schema})"
  sql_tool --db "${database}" setup-schema -v 0.0
  sql_tool --db "${database}" update-schema -d "${SCHEMA_ROOT}/${schema}/versioned"
done
echo "Temporal schema is up to date"
