-- Runs once, when the temporal-postgresql volume is initialised (docker-entrypoint-initdb.d): the
-- visibility database next to the `temporal` database that POSTGRES_DB creates. temporal-schema
-- then sets up the schema of both.
CREATE DATABASE temporal_visibility;
