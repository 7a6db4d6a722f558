/**
 * A database holding every kind of relation and object PostgreSQL 15 can hold, for the fidelity test:
 * what a backup of it restores must be what PostgreSQL's own pg_restore makes of the same archive,
 * and its database-level properties must be the original's.
 */
import { Client } from 'pg';

/** Roles the corpus' objects, grants, memberships and settings refer to; created once per cluster. */
export const CORPUS_ROLES_SQL = `
CREATE ROLE corpus_owner LOGIN;
CREATE ROLE corpus_reader NOLOGIN;
CREATE ROLE corpus_writer NOLOGIN;
CREATE ROLE corpus_app LOGIN;
CREATE ROLE "Corpus Auditor" NOLOGIN;
GRANT corpus_reader TO corpus_app;
GRANT corpus_writer TO corpus_app WITH ADMIN OPTION;
GRANT corpus_reader TO "Corpus Auditor";
ALTER ROLE corpus_app SET statement_timeout = '45s';
`;

/** Database-level properties that only `pg_dump --create` records. */
export function databasePropertiesSql(database: string): string {
  const db = `"${database}"`;
  return `
ALTER DATABASE ${db} OWNER TO corpus_owner;
ALTER DATABASE ${db} SET work_mem = '12MB';
ALTER DATABASE ${db} SET search_path = corpus, public, "$user";
ALTER DATABASE ${db} SET default_text_search_config = 'corpus.english_simple';
ALTER ROLE corpus_app IN DATABASE ${db} SET work_mem = '24MB';
ALTER ROLE corpus_app IN DATABASE ${db} SET application_name = 'corpus app';
COMMENT ON DATABASE ${db} IS 'the fidelity corpus; it''s "quoted"
-- not a comment; \\connect elsewhere
ALTER DATABASE elsewhere SET nothing = 1;';
REVOKE TEMPORARY ON DATABASE ${db} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO corpus_app;
GRANT CREATE ON DATABASE ${db} TO corpus_writer WITH GRANT OPTION;
SET ROLE corpus_writer;
GRANT CREATE ON DATABASE ${db} TO corpus_reader;
RESET ROLE;
ALTER DATABASE ${db} CONNECTION LIMIT 40;
`;
}

export const CORPUS_SQL = `
CREATE EXTENSION pg_trgm;
CREATE EXTENSION hstore;
CREATE EXTENSION citext;

CREATE SCHEMA corpus AUTHORIZATION corpus_owner;
CREATE SCHEMA "Odd Schema";
COMMENT ON SCHEMA corpus IS 'objects of every kind';

-- classic inheritance: several levels, multiple parents, rows in parents (seen alone with ONLY)
CREATE TABLE corpus.a (aa text);
CREATE TABLE corpus.b (bb text) INHERITS (corpus.a);
CREATE TABLE corpus.c (cc text) INHERITS (corpus.a);
CREATE TABLE corpus.d (dd text) INHERITS (corpus.b, corpus.c);
CREATE TABLE corpus.e (ee text, aa text) INHERITS (corpus.d);
INSERT INTO corpus.a VALUES ('a only');
INSERT INTO corpus.b SELECT 'b' || i, 'bb' FROM generate_series(1, 3) i;
INSERT INTO corpus.c SELECT 'c' || i, 'cc' FROM generate_series(1, 4) i;
INSERT INTO corpus.d SELECT 'd' || i, 'bb', 'cc', 'dd' FROM generate_series(1, 5) i;
INSERT INTO corpus.e (aa, bb, cc, dd, ee) SELECT 'e' || i, 'bb', 'cc', 'dd', 'ee' FROM generate_series(1, 6) i;
CREATE TABLE corpus.a_star (class char, a int4);
CREATE TABLE corpus.b_star (b text) INHERITS (corpus.a_star);
INSERT INTO corpus.a_star SELECT 'a', i FROM generate_series(1, 3) i;
INSERT INTO corpus.b_star SELECT 'b', i, 'x' FROM generate_series(1, 47) i;

-- declarative partitions: range, list with sub-partitions, hash, a default partition
CREATE TABLE corpus.measurements (id bigint GENERATED ALWAYS AS IDENTITY, taken date NOT NULL, region text NOT NULL, value numeric)
  PARTITION BY RANGE (taken);
CREATE TABLE corpus.measurements_2025 PARTITION OF corpus.measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
  PARTITION BY LIST (region);
CREATE TABLE corpus.measurements_2025_eu PARTITION OF corpus.measurements_2025 FOR VALUES IN ('eu');
CREATE TABLE corpus.measurements_2025_other PARTITION OF corpus.measurements_2025 DEFAULT;
CREATE TABLE corpus.measurements_2026 PARTITION OF corpus.measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
  PARTITION BY HASH (region);
CREATE TABLE corpus.measurements_2026_h0 PARTITION OF corpus.measurements_2026 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE corpus.measurements_2026_h1 PARTITION OF corpus.measurements_2026 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE corpus.measurements_default PARTITION OF corpus.measurements DEFAULT;
CREATE INDEX ON corpus.measurements (region, taken);
INSERT INTO corpus.measurements (taken, region, value)
  SELECT date '2024-12-20' + (i * 7), (ARRAY['eu', 'us', 'apac'])[1 + i % 3], i / 3.0 FROM generate_series(1, 120) i;

CREATE UNLOGGED TABLE corpus.cache_entries (key text PRIMARY KEY, payload hstore);
INSERT INTO corpus.cache_entries SELECT 'k' || i, hstore('n', i::text) FROM generate_series(1, 10) i;

CREATE TABLE corpus.no_columns ();
INSERT INTO corpus.no_columns DEFAULT VALUES;
INSERT INTO corpus.no_columns DEFAULT VALUES;

-- types: domains with checks, enums, ranges, composites
CREATE DOMAIN corpus.positive_int AS int CHECK (VALUE > 0) NOT NULL;
CREATE DOMAIN corpus.email AS citext CONSTRAINT email_has_at CHECK (VALUE ~ '@');
CREATE TYPE corpus.mood AS ENUM ('sad', 'ok', 'happy', 'ecstatic');
ALTER TYPE corpus.mood ADD VALUE 'meh' BEFORE 'ok';
CREATE TYPE corpus.float_range AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE TYPE corpus.address AS (street text, city text, zip corpus.positive_int);
CREATE TABLE corpus.people (
  id int GENERATED BY DEFAULT AS IDENTITY (START WITH 100 INCREMENT BY 5) PRIMARY KEY,
  email corpus.email UNIQUE,
  mood corpus.mood DEFAULT 'ok',
  home corpus.address,
  height corpus.float_range,
  first_name text,
  last_name text,
  full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
  secret text,
  tenant text NOT NULL DEFAULT current_user
);
INSERT INTO corpus.people (email, mood, home, height, first_name, last_name, secret)
  SELECT 'p' || i || '@example.org', (ARRAY['sad', 'ok', 'happy', 'ecstatic']::corpus.mood[])[1 + i % 4],
         ROW('street ' || i, 'city', i)::corpus.address, corpus.float_range(i, i + 0.5), 'First' || i, 'Last' || i, md5(i::text)
    FROM generate_series(1, 25) i;
CREATE INDEX people_name_trgm ON corpus.people USING gin (full_name gin_trgm_ops);
COMMENT ON TABLE corpus.people IS 'people, with every kind of column';
COMMENT ON COLUMN corpus.people.secret IS 'readable by writers only';

-- row-level security, column privileges, objects owned by several roles
ALTER TABLE corpus.people ENABLE ROW LEVEL SECURITY;
ALTER TABLE corpus.people FORCE ROW LEVEL SECURITY;
CREATE POLICY people_own ON corpus.people FOR SELECT TO corpus_reader USING (tenant = current_user);
CREATE POLICY people_write ON corpus.people AS RESTRICTIVE FOR UPDATE TO corpus_writer USING (true) WITH CHECK (mood <> 'sad');
GRANT USAGE ON SCHEMA corpus TO corpus_reader, corpus_writer;
GRANT SELECT (id, email, full_name) ON corpus.people TO corpus_reader;
GRANT SELECT, UPDATE (secret, mood) ON corpus.people TO corpus_writer;
CREATE TABLE corpus.owned_by_writer (id serial PRIMARY KEY, note text);
ALTER TABLE corpus.owned_by_writer OWNER TO corpus_writer;
INSERT INTO corpus.owned_by_writer (note) VALUES ('one'), ('two');
CREATE TABLE "Odd Schema"."Mixed Case ""Quoted"" Table" ("Weird Column" text, "select" int);
ALTER TABLE "Odd Schema"."Mixed Case ""Quoted"" Table" OWNER TO "Corpus Auditor";
INSERT INTO "Odd Schema"."Mixed Case ""Quoted"" Table" VALUES ('tab	and
newline and \\ backslash', 1), (NULL, 2);
ALTER DEFAULT PRIVILEGES FOR ROLE corpus_owner IN SCHEMA corpus GRANT SELECT ON TABLES TO corpus_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE corpus_owner GRANT EXECUTE ON FUNCTIONS TO corpus_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA corpus REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
SET ROLE corpus_owner;
CREATE TABLE corpus.made_by_owner (id int PRIMARY KEY, label text);
INSERT INTO corpus.made_by_owner VALUES (1, 'default privileges apply');
RESET ROLE;

-- rules, views, materialized views, sequences, functions, triggers, event triggers
CREATE TABLE corpus.audit_log (id bigserial PRIMARY KEY, happened timestamptz DEFAULT now(), what text);
CREATE VIEW corpus.people_view AS SELECT id, full_name, mood FROM corpus.people WITH CASCADED CHECK OPTION;
CREATE RULE people_view_delete AS ON DELETE TO corpus.people_view DO INSTEAD
  INSERT INTO corpus.audit_log (what) VALUES ('refused delete of ' || OLD.id);
CREATE MATERIALIZED VIEW corpus.mood_counts AS SELECT mood, count(*) AS n FROM corpus.people GROUP BY mood;
CREATE SEQUENCE corpus.ticket_seq START 1000 INCREMENT 10 CACHE 1;
SELECT setval('corpus.ticket_seq', 1230);
CREATE FUNCTION corpus.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO corpus.audit_log (what) VALUES (TG_OP || ' on ' || TG_TABLE_NAME); RETURN NEW; END $$;
CREATE TRIGGER people_touch AFTER UPDATE ON corpus.people FOR EACH ROW EXECUTE FUNCTION corpus.touch();
CREATE FUNCTION corpus.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
CREATE EVENT TRIGGER corpus_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION corpus.on_ddl();
ALTER EVENT TRIGGER corpus_ddl DISABLE;
CREATE PROCEDURE corpus.bump(n int) LANGUAGE sql AS $$ SELECT setval('corpus.ticket_seq', nextval('corpus.ticket_seq') + n) $$;

-- publications, extended statistics, collations, text search, operator classes, casts
CREATE PUBLICATION corpus_pub FOR TABLE corpus.people (id, email, mood) WHERE (id > 100), corpus.audit_log;
CREATE PUBLICATION corpus_all_in_schema FOR TABLES IN SCHEMA "Odd Schema" WITH (publish = 'insert');
CREATE STATISTICS corpus.people_stats (ndistinct, dependencies, mcv) ON mood, tenant FROM corpus.people;
CREATE COLLATION corpus.german_phonebook (provider = icu, locale = 'de-u-co-phonebk');
CREATE COLLATION corpus.case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE corpus.labels (label text COLLATE corpus.case_insensitive PRIMARY KEY, sort_key text COLLATE corpus.german_phonebook);
INSERT INTO corpus.labels VALUES ('Äpfel', 'Äpfel'), ('Birnen', 'Birnen');
CREATE TEXT SEARCH DICTIONARY corpus.english_stem (TEMPLATE = snowball, LANGUAGE = english);
CREATE TEXT SEARCH CONFIGURATION corpus.english_simple (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION corpus.english_simple ALTER MAPPING FOR asciiword WITH corpus.english_stem;
CREATE FUNCTION corpus.abs_lt(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT abs($1) < abs($2)';
CREATE FUNCTION corpus.abs_eq(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT abs($1) = abs($2)';
CREATE FUNCTION corpus.abs_cmp(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT sign(abs($1) - abs($2))::int';
CREATE OPERATOR corpus.<<< (LEFTARG = int, RIGHTARG = int, FUNCTION = corpus.abs_lt);
CREATE OPERATOR corpus.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = corpus.abs_eq);
CREATE OPERATOR CLASS corpus.abs_int_ops FOR TYPE int USING btree AS
  OPERATOR 1 corpus.<<<, OPERATOR 3 corpus.===, FUNCTION 1 corpus.abs_cmp(int, int);
CREATE FUNCTION corpus.mood_to_int(corpus.mood) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT array_position(enum_range(NULL::corpus.mood), $1)';
CREATE CAST (corpus.mood AS int) WITH FUNCTION corpus.mood_to_int(corpus.mood) AS ASSIGNMENT;

-- large objects with owners, grants and comments
SELECT lo_from_bytea(424242, convert_to('a large object owned by the writer', 'UTF8'));
ALTER LARGE OBJECT 424242 OWNER TO corpus_writer;
GRANT SELECT ON LARGE OBJECT 424242 TO corpus_reader;
COMMENT ON LARGE OBJECT 424242 IS 'the answer, large';
SELECT lo_from_bytea(424243, decode(repeat('00ff', 5000), 'hex'));
`;

export async function execute(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
