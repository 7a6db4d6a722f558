/**
 * Production packaging (issue 7). No Docker engine runs here, so docker-compose.yml and the Dockerfile
 * are checked by reading them: the compose file with the `yaml` package, the Dockerfile instruction by instruction
 * against what README.md documents. The specification's scripts are run for real: backups and
 * restores through the CLI and a worker, against private stores and the suite's Temporal dev server.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Redis from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../core/config';
import { PROJECT_ROOT } from '../devstack/tools';
import { bundleWorkflows } from '../worker/bundle';
import { runCaptured } from '../devstack/cli';
import { POLLER_FRESH_MS } from '../docker/healthcheck';
import { seedStores } from './support/scholaria';
import { environmentFor, scratchDir, startStores, startWorker, type RunningWorker, type Stores } from './support/stack';

const root = PROJECT_ROOT;
const read = (path: string) => readFileSync(join(root, path), 'utf8');

// Scalars stay strings (the failsafe schema): compose interpolates them as text anyway.
type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

// ---- compose helpers ------------------------------------------------------------------------------

type Service = Record<string, Yaml>;
const composeText = read('docker-compose.yml');
const compose = parseYaml(composeText, { schema: 'failsafe', uniqueKeys: true }) as { [key: string]: Yaml };
const services = compose.services as Record<string, Service>;
const backup = () => services.backup!;
const environmentOf = (service: Service) => service.environment as Record<string, string>;

/** Compose's interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, ${X?error}, $$. */
function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (match, name?: string, colon?: string, op?: string, arg?: string) => {
    if (match === '$$') return '$';
    const value = vars[name!];
    const missing = value === undefined || (colon === ':' && value === '');
    if (op === '-') return missing ? arg! : value!;
    if (op === '?') {
      if (missing) throw new Error(`required variable ${name} is missing a value: ${arg}`);
      return value!;
    }
    return value ?? '';
  });
}

/** `NAME` of a value that is exactly `${NAME:-default}`, with its default. */
function defaultOf(value: string): { name: string; fallback: string } | undefined {
  const match = /^\$\{([A-Z0-9_]+):-([^}]*)\}$/.exec(value);
  return match ? { name: match[1]!, fallback: match[2]! } : undefined;
}

/** The variables of the configuration schema, read from core/config.ts. */
function configVariables(): Set<string> {
  const source = read('core/config.ts');
  const start = source.indexOf('const environmentSchema = z.object({');
  assert.ok(start >= 0, 'environmentSchema not found in core/config.ts');
  const body = source.slice(start, source.indexOf('\n});', start));
  return new Set([...body.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!));
}

const PASSWORDS = { POSTGRES_PASSWORD: 'pg-pass', REDIS_PASSWORD: 'redis-pass', TEMPORAL_DB_PASSWORD: 'temporal-pass' };

describe('docker-compose.yml', () => {
  test('parses as YAML', () => {
    assert.equal(typeof compose, 'object');
  });

  test('holds the whole stack, the backup service alone under the profile "backup", the local S3 server under "offsite"', () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'backup',
      'postgres',
      'qdrant',
      'redis',
      's3',
      'temporal',
      'temporal-namespace',
      'temporal-postgresql',
      'temporal-schema',
      'temporal-ui',
    ]);
    assert.deepEqual(backup().profiles, ['backup']);
    assert.deepEqual(services.s3!.profiles, ['offsite']);
    for (const [name, service] of Object.entries(services)) if (name !== 'backup' && name !== 's3') assert.equal(service.profiles, undefined, name);
  });

  test('every image is pinned to a version, and the servers match the tools of the backup image', () => {
    for (const [name, service] of Object.entries(services)) {
      const image = service.image as string;
      assert.match(image, /^[a-z0-9./-]+:v?\d+(\.\d+){1,2}(-[a-z0-9.]+)?$/, `${name}: ${image}`);
    }
    const dockerfile = dockerfileInstructions();
    const client = /postgresql-client-(\d+)/.exec(runCommands(dockerfile).join(' '))?.[1];
    assert.ok(client, 'the Dockerfile installs postgresql-client-<major>');
    for (const name of ['postgres', 'temporal-postgresql']) {
      assert.equal(/^postgres:(\d+)\./.exec(services[name]!.image as string)?.[1], client, `${name} runs PostgreSQL ${client}, as pg_dump in the image`);
    }
    // Debian bookworm's redis-server (and redis-check-rdb) is 7.0: it reads the RDB of a 7.0 server.
    assert.match(services.redis!.image as string, /^redis:7\.0\.\d+/);
    const stages = dockerfile.filter((i) => i.keyword === 'FROM').map((i) => i.args);
    assert.deepEqual(stages.map((stage) => stage.replace(/ AS build$/, '')), [stages.at(-1), stages.at(-1)], 'the build stage and the image use the same Node');
    assert.match(stages.at(-1)!, /^node:24\.\d+\.\d+-bookworm-slim$/);
    assert.match(services.qdrant!.image as string, /^qdrant\/qdrant:v1\.15\.\d+$/);
    const temporalVersion = (services.temporal!.image as string).split(':')[1];
    assert.equal((services['temporal-schema']!.image as string).split(':')[1], temporalVersion);
    assert.equal((services['temporal-namespace']!.image as string).split(':')[1], temporalVersion);
    assert.match(services.temporal!.image as string, /^temporalio\/server:/);
    assert.match(services['temporal-ui']!.image as string, /^temporalio\/ui:/);
  });

  test('long-running services have health checks; one-shot jobs gate what needs them', () => {
    const oneShot = ['temporal-schema', 'temporal-namespace'];
    for (const [name, service] of Object.entries(services)) {
      if (oneShot.includes(name)) {
        assert.match(service.restart as string, /^on-failure/, name);
        continue;
      }
      assert.equal(service.restart, 'unless-stopped', name);
      const check = service.healthcheck as Record<string, Yaml>;
      assert.ok(Array.isArray(check?.test) && ['CMD', 'CMD-SHELL'].includes((check.test as string[])[0]!), `${name} has a healthcheck`);
      for (const field of ['interval', 'timeout', 'retries', 'start_period']) assert.ok(check[field], `${name} healthcheck.${field}`);
    }
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, spec] of Object.entries((service.depends_on ?? {}) as Record<string, { condition: string }>)) {
        assert.ok(services[dependency], `${name} depends on a service that exists: ${dependency}`);
        const expected = oneShot.includes(dependency) ? 'service_completed_successfully' : 'service_healthy';
        assert.equal(spec.condition, expected, `${name} -> ${dependency}`);
      }
    }
    assert.deepEqual(Object.keys(backup().depends_on as object).sort(), ['postgres', 'qdrant', 'redis', 'temporal', 'temporal-namespace']);
    assert.deepEqual(Object.keys(services.temporal!.depends_on as object), ['temporal-schema']);
  });

  test('the backup service: built from the Dockerfile, the worker as main process, /backup and /var/log/scholaria as volumes', () => {
    const service = backup();
    assert.deepEqual(service.build, { context: '.', dockerfile: 'Dockerfile' });
    assert.deepEqual(service.command, ['scholaria-backup', 'worker']);
    assert.equal(service.image, `scholaria-backup:${JSON.parse(read('package.json')).version}`, 'the built image is tagged with the tool version');
    const volumes = service.volumes as string[];
    const declared = Object.keys(compose.volumes as object);
    for (const target of ['/backup', '/var/log/scholaria']) {
      const volume = volumes.find((v) => v.endsWith(`:${target}`));
      assert.ok(volume, `a volume at ${target}`);
      const source = defaultOf(volume.slice(0, -target.length - 1));
      assert.ok(source && declared.includes(source.fallback), `${target}: a named volume by default (${volume})`);
    }
    // The worker's shutdown grace (20 s for running activities) must fit in the stop grace period.
    assert.ok(Number.parseInt(service.stop_grace_period as string, 10) >= 30);
    const dockerfileCheck = dockerfileInstructions().find((i) => i.keyword === 'HEALTHCHECK')!.args;
    const composeCheck = (service.healthcheck as Record<string, Yaml>).test as string[];
    assert.equal(composeCheck[0], 'CMD');
    assert.deepEqual(composeCheck.slice(1), JSON.parse(dockerfileCheck.slice(dockerfileCheck.indexOf('CMD ') + 4)), 'the same check as the HEALTHCHECK of the Dockerfile');
  });

  test("the backup service's environment: the specification's variables, every one known to the configuration", () => {
    const env = environmentOf(backup());
    const known = configVariables();
    // The offsite credentials are read by the AWS SDK's own chain, never by core/config.ts.
    const awsChain = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    for (const name of Object.keys(env)) assert.ok(known.has(name) || awsChain.has(name), `${name} is a variable of core/config.ts`);
    const specified = { BACKUP_DAILY_RETENTION: '7', BACKUP_WEEKLY_RETENTION: '30', BACKUP_MONTHLY_RETENTION: '365', BACKUP_NOTIFY_EMAIL: '', BACKUP_NOTIFY_WEBHOOK: '' };
    for (const [name, fallback] of Object.entries(specified)) assert.deepEqual(defaultOf(env[name]!), { name, fallback }, name);
    for (const name of ['POSTGRES_URL', 'REDIS_URL', 'QDRANT_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_UI_URL', 'BACKUP_NOTIFY_WEBHOOK_FORMAT', 'BACKUP_NOTIFY_ON_SUCCESS']) {
      assert.ok(env[name], `${name} is set`);
    }
    for (const name of ['TEMPORAL_TLS', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_NAME', 'TEMPORAL_API_KEY']) {
      assert.deepEqual(defaultOf(env[name]!), { name, fallback: '' }, `${name} passes through from .env, empty by default`);
    }
    assert.equal(env.BACKUP_DIR, '/backup');
    assert.equal(env.LOG_DIR, '/var/log/scholaria');
  });

  test('with nothing but the passwords in .env, the environment is a valid configuration that reaches the services of the file', () => {
    const env = Object.fromEntries(Object.entries(environmentOf(backup())).map(([name, value]) => [name, interpolate(value, PASSWORDS)]));
    const config = loadConfig(env);
    assert.equal(new URL(config.storeUrls.postgres!).host, 'postgres:5432');
    assert.equal(new URL(config.storeUrls.postgres!).password, PASSWORDS.POSTGRES_PASSWORD);
    assert.equal(new URL(config.storeUrls.redis!).host, 'redis:6379');
    assert.equal(new URL(config.storeUrls.qdrant!).host, 'qdrant:6333');
    assert.equal(config.temporal.address, 'temporal:7233');
    assert.equal(config.temporal.tls, undefined);
    assert.deepEqual(config.components, ['postgres', 'redis', 'qdrant']);
    assert.deepEqual(config.retentionDays, { daily: 7, weekly: 30, monthly: 365 });
    // Every service interpolates with the three passwords alone.
    for (const service of Object.values(services)) {
      for (const value of Object.values((service.environment ?? {}) as Record<string, string>)) interpolate(value, PASSWORDS);
      for (const value of [...((service.command ?? []) as string[]), ...((service.volumes ?? []) as string[]), ...((service.ports ?? []) as string[])]) interpolate(value, PASSWORDS);
    }
    assert.throws(() => interpolate(environmentOf(backup()).POSTGRES_URL!, {}), /POSTGRES_PASSWORD/, 'no default password: compose refuses to start without one');
  });

  test("its defaults are the tool's defaults (except the addresses of this stack)", () => {
    const intentional = new Set(['TEMPORAL_ADDRESS', 'TEMPORAL_UI_URL']);
    const baseline = JSON.stringify(loadConfig({}));
    for (const [key, value] of Object.entries(environmentOf(backup()))) {
      const variable = defaultOf(value);
      if (!variable || variable.name !== key || intentional.has(key)) continue;
      assert.equal(JSON.stringify(loadConfig({ [key]: variable.fallback })), baseline, `${key}=${variable.fallback} is the default`);
    }
  });

  test('docker/env.example lists every variable the compose file reads, and nothing else', () => {
    const used = new Set([...composeText.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const listed = new Set([...read('docker/env.example').matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    assert.deepEqual([...used].filter((name) => !listed.has(name)), [], 'read by docker-compose.yml, missing from docker/env.example');
    assert.deepEqual([...listed].filter((name) => !used.has(name)), [], 'in docker/env.example, never read by docker-compose.yml');
  });

  test('files mounted from the repository exist; ports are published on the loopback interface only', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('./')) continue;
        assert.ok(existsSync(join(root, source)), `${name}: ${source} exists`);
        assert.match(volume, /:ro$/, `${name}: ${volume} is read-only`);
      }
      for (const port of (service.ports ?? []) as string[]) assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} on 127.0.0.1 only`);
    }
    const certs = (backup().volumes as string[]).find((v) => v.endsWith(':/certs:ro'))!;
    assert.ok(existsSync(join(root, defaultOf(certs.slice(0, -':/certs:ro'.length))!.fallback)));
    const dynamicConfig = environmentOf(services.temporal!).DYNAMIC_CONFIG_FILE_PATH!;
    assert.ok(existsSync(join(root, 'docker/temporal/dynamicconfig', dynamicConfig.split('/').pop()!)));
    for (const script of ['docker/temporal/setup-schema.sh', 'docker/temporal/create-namespace.sh']) {
      const checked = spawnSync('sh', ['-n', join(root, script)], { encoding: 'utf8' });
      assert.equal(checked.status, 0, `${script}: ${checked.stderr}`);
    }
  });
});

// ---- Dockerfile -----------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

function dockerfileInstructions(): Instruction[] {
  const logical = read('Dockerfile')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
}

const normalize = (text: string) => text.replace(/\s+/g, ' ').trim();
function runCommands(instructions: Instruction[]): string[] {
  return instructions.filter((i) => i.keyword === 'RUN').map((i) => normalize(i.args));
}

describe('Dockerfile', () => {
  const instructions = dockerfileInstructions();
  const docs = read('README.md');

  test('installs the PostgreSQL client, redis-server and the rest with apt, and only the production npm packages', () => {
    const runs = runCommands(instructions);
    const apt = runs.find((run) => run.includes('apt-get install'));
    assert.ok(apt);
    const packages = apt.split('apt-get install')[1]!.split('&&')[0]!.split(' ').filter((word) => word && !word.startsWith('-'));
    for (const needed of ['postgresql-client-15', 'redis-server', 'ca-certificates', 'tini', 'zstd']) assert.ok(packages.includes(needed), needed);
    assert.ok(runs.some((run) => run.startsWith('npm ci --omit=dev')));
    assert.ok(instructions.some((i) => i.keyword === 'ENV' && i.args.includes('BACKUP_WORKFLOW_BUNDLE=')));
    assert.ok(runs.some((run) => run.includes('docker/bundle-workflows.ts "${BACKUP_WORKFLOW_BUNDLE}"')));
  });

  test('every program the activities run comes with the image: its Debian package is installed', () => {
    const packageOf: Record<string, string | null> = {
      pg_dump: 'postgresql-client-15',
      pg_dumpall: 'postgresql-client-15',
      pg_restore: 'postgresql-client-15',
      psql: 'postgresql-client-15',
      'redis-server': 'redis-server',
      'redis-check-rdb': 'redis-server',
      'redis-cli': 'redis-server',
      zstd: 'zstd',
      pigz: 'pigz',
      age: 'age',
      bash: null, // in the base image
      sh: null,
      // coreutils, in the base image: the pipes between the dump's tools
      tee: null,
      cat: null,
      mkfifo: null,
    };
    const apt = runCommands(instructions).find((run) => run.includes('apt-get install'))!;
    const installed = apt.split('apt-get install')[1]!.split('&&')[0]!.split(' ').filter((word) => word && !word.startsWith('-'));
    const programs = new Set<string>();
    const sources = (dir: string): string[] =>
      readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
      );
    for (const file of ['activities', 'worker'].flatMap(sources)) {
      for (const match of read(file).matchAll(/\b(?:spawnChecked|runForOutput|childFilter|spawnSync|spawn|execFile|execFileSync)\(\s*'([A-Za-z0-9_.-]+)'/g)) programs.add(match[1]!);
    }
    for (const program of ['pg_dump', 'pg_restore', 'redis-check-rdb', 'zstd']) assert.ok(programs.has(program), `found ${program} in the sources`);
    for (const program of programs) {
      assert.ok(program in packageOf, `${program} is run by the activities: add its Debian package to the Dockerfile and to this table`);
      const needed = packageOf[program];
      if (needed) assert.ok(installed.includes(needed), `${program}: the Dockerfile installs ${needed}`);
    }
  });

  test('its instructions are the ones README.md documents, word for word', () => {
    const documented = normalize(docs.replace(/\\\n/g, ' '));
    assert.ok(instructions.length > 10);
    for (const { keyword, args } of instructions) {
      assert.ok(documented.includes(`${keyword} ${normalize(args)}`), `documented: ${keyword} ${args}`);
    }
  });

  test('copies only what exists and is not excluded by .dockerignore; /scripts, the CLI on PATH, an unprivileged user, the worker as CMD', () => {
    const ignored = read('.dockerignore').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
    // COPY --from=build copies what the build stage compiled, not files of the context.
    for (const copy of instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))) {
      const sources = copy.args.split(' ').slice(0, -1);
      for (const source of sources) {
        assert.ok(existsSync(join(root, source)), `COPY ${source}: exists`);
        assert.ok(!ignored.includes(source), `COPY ${source}: not in .dockerignore`);
      }
    }
    for (const excluded of ['node_modules', '.git', '.tools', '.stack', '.env', 'docker/certs']) assert.ok(ignored.includes(excluded), `.dockerignore: ${excluded}`);
    const runs = runCommands(instructions).join(' && ');
    assert.ok(runs.includes('ln -s /opt/scholaria-backup/scripts /scripts'));
    assert.ok(runs.includes('ln -s /opt/scholaria-backup/bin/scholaria-backup.js /usr/local/bin/scholaria-backup'));
    const user = instructions.find((i) => i.keyword === 'USER')!.args;
    assert.ok(user !== 'root' && user !== '0', `runs as ${user}`);
    assert.ok(runs.includes('chown scholaria:scholaria /backup /var/log/scholaria'));
    assert.deepEqual(JSON.parse(instructions.find((i) => i.keyword === 'CMD')!.args), ['scholaria-backup', 'worker']);
    assert.deepEqual(JSON.parse(instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args), ['/usr/bin/tini', '--']);
    assert.equal(instructions.find((i) => i.keyword === 'VOLUME')!.args, '["/backup", "/var/log/scholaria"]');
    for (const script of ['backup.sh', 'restore.sh', 'backup-scheduler.sh']) {
      assert.ok(statSync(join(root, 'scripts', script)).mode & 0o111, `scripts/${script} is executable`);
    }
  });
});

describe('README.md', () => {
  const docs = read('README.md');

  test("documents the specification's commands, the runbooks, the Temporal connection and the manual restore", () => {
    for (const command of [
      'docker-compose --profile backup up -d',
      'docker-compose exec backup /scripts/backup.sh',
      'docker-compose exec backup /scripts/restore.sh latest',
      'docker-compose exec backup /scripts/backup-scheduler.sh status',
      'docker-compose exec backup /scripts/backup-scheduler.sh health-check',
      './scripts/restore.sh --component postgres latest',
      './scripts/restore.sh --dry-run latest',
      'sha256sum -c SHA256SUMS',
      'pg_restore',
      'gunzip',
      'redis-server',
      'redis-check-rdb',
      '/snapshots/upload?priority=snapshot',
    ]) {
      assert.ok(docs.includes(command), `docs mention: ${command}`);
    }
    for (const variable of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TLS', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_NAME', 'TEMPORAL_API_KEY']) {
      assert.ok(docs.includes(`\`${variable}\``), `docs explain ${variable}`);
    }
    const prose = docs.replace(/^```[\s\S]*?^```$/gm, '');
    const headings = [...prose.matchAll(/^(#+) (.+)$/gm)].map((m) => ({ level: m[1]!.length, title: m[2]! }));
    assert.ok(headings.filter((h) => h.level === 1).length === 1, 'one title, then sections');
    for (const title of [/database (error|failure)/i, /whole system/i, /partial data loss/i, /Temporal (Web )?UI/i, /by hand/i, /not run here/i]) {
      assert.ok(headings.some((h) => title.test(h.title)), `a section matching ${title}`);
    }
  });
});

// ---- the scripts, run for real --------------------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: string[], env: Record<string, string>, timeoutMs = 180_000): Promise<Run> {
  return runCaptured('bash', [script, ...args], env, timeoutMs);
}

const scripts = (name: string) => join(root, 'scripts', name);

describe('the scripts', () => {
  let stores: Stores;
  let worker: RunningWorker;
  let env: Record<string, string>;
  let setPath: string;
  let scratch: string;

  before(async () => {
    stores = await startStores('packaging');
    await seedStores(stores);
    scratch = scratchDir('packaging-bundle');
    // The worker runs a bundle made the way the image makes it (docker/bundle-workflows.ts), so that step is proven too.
    const bundle = join(scratch, 'workflow-bundle.js');
    await bundleWorkflows(bundle);
    env = environmentFor(stores, { BACKUP_WORKFLOW_BUNDLE: bundle, PATH: `${dirname(process.execPath)}:${process.env.PATH}` });
    worker = await startWorker(env);
  });

  after(async () => {
    await worker?.stop();
    await stores?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('backup.sh takes a complete, verified manual set through the CLI and the worker', async () => {
    const result = await runScript(scripts('backup.sh'), [], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /Status: +complete/);
    setPath = /Backup set: (\S+)/.exec(result.stdout)![1]!;
    assert.equal(dirname(setPath), env.BACKUP_DIR);
    assert.equal(JSON.parse(readFileSync(join(setPath, 'backup_manifest.json'), 'utf8')).tier, 'manual');
  });

  test('restore.sh --dry-run latest checks everything and changes nothing', async () => {
    const result = await runScript(scripts('restore.sh'), ['--dry-run', 'latest'], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, new RegExp(`^Set: ${setPath.split('/').pop()}`, 'm'));
    assert.match(result.stdout, /^PostgreSQL: /m);
    assert.match(result.stdout, /^Redis: /m);
    assert.match(result.stdout, /Dry run: nothing was changed\./);
  });

  test('backup.sh --tier daily --component redis: a daily set of Redis alone', async () => {
    const result = await runScript(scripts('backup.sh'), ['--tier', 'daily', '--component', 'redis', '--json'], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const manifest = readdirSync(env.BACKUP_DIR!)
      .filter((name) => name.startsWith('scholaria_backup_'))
      .map((name) => join(env.BACKUP_DIR!, name, 'backup_manifest.json'))
      .map((path) => JSON.parse(readFileSync(path, 'utf8')))
      .find((manifest) => manifest.tier === 'daily');
    assert.ok(manifest, 'a daily set exists');
    assert.deepEqual(Object.keys(manifest.stores), ['redis']);
  });

  test('restore.sh --component redis --dry-run <set path>: the plan for Redis alone', async () => {
    const result = await runScript(scripts('restore.sh'), ['--component', 'redis', '--dry-run', setPath], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /^Redis: /m);
    assert.doesNotMatch(result.stdout, /^PostgreSQL: /m);
    assert.match(result.stdout, /Dry run: nothing was changed\./);
  });

  test('restore.sh latest without a terminal and without --yes refuses and changes nothing', async () => {
    const redis = new Redis(stores.redis.url);
    try {
      await redis.set('packaging:marker', 'after the backup');
      const result = await runScript(scripts('restore.sh'), ['latest'], env);
      assert.equal(result.code, 1, result.stderr + result.stdout);
      assert.match(result.stderr, /^scholaria-backup: refusing to restore .* without confirmation: no terminal to ask; pass --yes/m);
      assert.equal(await redis.get('packaging:marker'), 'after the backup');
    } finally {
      redis.disconnect();
    }
  });

  test('restore.sh --yes --component redis <set name> restores Redis as the set holds it', async () => {
    const redis = new Redis(stores.redis.url);
    try {
      await redis.set('packaging:marker', 'after the backup');
      const result = await runScript(scripts('restore.sh'), [setPath.split('/').pop()!, '--component', 'redis', '--yes'], env);
      assert.equal(result.code, 0, result.stderr + result.stdout);
      assert.match(result.stdout, /^Redis: restored/m);
      assert.equal(await redis.get('packaging:marker'), null, 'the key written after the backup is gone');
    } finally {
      redis.disconnect();
    }
  });

  test('backup-scheduler.sh status and health-check run the CLI commands of those names', async () => {
    const status = await runScript(scripts('backup-scheduler.sh'), ['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr + status.stdout);
    assert.ok(JSON.stringify(JSON.parse(status.stdout)).includes(setPath.split('/').pop()!), 'status names the newest sets');
    const health = await runScript(scripts('backup-scheduler.sh'), ['health-check', '--json'], env);
    const report = JSON.parse(health.stdout) as { healthy: boolean; checks: { ok: boolean }[] };
    assert.ok(report.checks.length > 0);
    // No schedules exist on this test's task queue, so the verdict may be either; the exit code must say it.
    assert.equal(health.code, report.healthy ? 0 : 1, health.stderr);
  });

  test('the scripts find the CLI of their tree through a /scripts-like link, from any directory', async () => {
    const linked = join(scratch, 'scripts');
    symlinkSync(join(root, 'scripts'), linked);
    const result = await runScript(join(linked, 'restore.sh'), ['--component', 'bogus', 'latest'], { ...env, PATH: dirname(process.execPath) + ':/usr/bin:/bin' });
    assert.equal(result.code, 1, result.stderr + result.stdout);
    assert.match(result.stderr, /^scholaria-backup: .*bogus/m, 'the real CLI answered');
  });

  test('each form of the specification becomes one CLI command (recorded by a stand-in CLI)', async () => {
    const recorder = join(scratch, 'record-cli');
    const log = join(scratch, 'argv.log');
    writeFileSync(recorder, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n`, { mode: 0o755 });
    const cases: [string, string[], string][] = [
      ['backup.sh', [], 'backup --tier manual'],
      ['backup.sh', ['--tier', 'weekly', '--component', 'postgres,qdrant'], 'backup --tier weekly --component postgres,qdrant'],
      ['backup.sh', ['--component=redis', '--tier=monthly', '--no-wait'], 'backup --tier monthly --component redis --no-wait'],
      ['restore.sh', ['latest'], 'restore latest'],
      ['restore.sh', ['/backup/scholaria_backup_20240301_020000'], 'restore /backup/scholaria_backup_20240301_020000'],
      ['restore.sh', ['--component', 'postgres', 'latest'], 'restore latest --component postgres'],
      ['restore.sh', ['latest', '--dry-run', '--component', 'qdrant'], 'restore latest --component qdrant --dry-run'],
      ['restore.sh', ['-y', '--force', '--keep-safety', 'scholaria_backup_20240301_020000'], 'restore scholaria_backup_20240301_020000 --yes --force --keep-safety'],
      ['backup-scheduler.sh', ['status'], 'status'],
      ['backup-scheduler.sh', ['health-check'], 'health-check'],
      ['backup-scheduler.sh', ['health-check', '--json'], 'health-check --json'],
      ['backup-scheduler.sh', ['run', 'daily'], 'backup --tier daily'],
      ['backup-scheduler.sh', ['schedules', 'list'], 'schedules list'],
      ['backup-scheduler.sh', ['prune', '--dry-run'], 'prune --dry-run'],
    ];
    for (const [script, args, expected] of cases) {
      writeFileSync(log, '');
      const result = await runScript(scripts(script), args, { ...env, SCHOLARIA_BACKUP_CLI: recorder });
      assert.equal(result.code, 0, `${script} ${args.join(' ')}: ${result.stderr}`);
      assert.equal(readFileSync(log, 'utf8'), `${expected}\n`, `${script} ${args.join(' ')}`);
    }
  });

  test('bad usage: the usage on stderr, exit 2, and no CLI started', async () => {
    const recorder = join(scratch, 'must-not-run');
    const marker = join(scratch, 'ran');
    writeFileSync(recorder, `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
    const cases: [string, string[]][] = [
      ['backup.sh', ['--bogus']],
      ['backup.sh', ['--tier']],
      ['backup.sh', ['--tier', 'hourly']],
      ['backup.sh', ['latest']],
      ['restore.sh', []],
      ['restore.sh', ['--dry-run']],
      ['restore.sh', ['latest', 'scholaria_backup_20240301_020000']],
      ['restore.sh', ['--component']],
      ['restore.sh', ['--component', '--dry-run', 'latest']],
      ['restore.sh', ['--everything', 'latest']],
      ['backup-scheduler.sh', []],
      ['backup-scheduler.sh', ['start-cron']],
      ['backup-scheduler.sh', ['run']],
      ['backup-scheduler.sh', ['run', 'hourly']],
      ['backup-scheduler.sh', ['schedules']],
    ];
    for (const [script, args] of cases) {
      const result = await runScript(scripts(script), args, { ...env, SCHOLARIA_BACKUP_CLI: recorder });
      assert.equal(result.code, 2, `${script} ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`^${script.replace('.', '\\.')}: .+\\nusage: ${script.replace('.', '\\.')}`), `${script} ${args.join(' ')}`);
      assert.equal(result.stdout, '');
    }
    assert.ok(!existsSync(marker), 'the CLI never ran');
    for (const script of ['backup.sh', 'restore.sh', 'backup-scheduler.sh']) {
      const help = await runScript(scripts(script), ['--help'], env);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^usage: ${script.replace('.', '\\.')}`));
    }
  });

  test("the container health check: healthy while this host's worker polls the task queue, unhealthy otherwise", async () => {
    const check = (overrides: Record<string, string>) => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'docker/healthcheck.ts')], { env: { ...env, ...overrides }, encoding: 'utf8', cwd: root });
      return { code: result.status, stdout: result.stdout };
    };
    const healthy = check({});
    assert.equal(healthy.code, 0, healthy.stdout);
    assert.match(healthy.stdout, new RegExp(`^healthy: worker \\d+@\\S+ polls task queue ${env.TEMPORAL_TASK_QUEUE}`));
    const noWorker = check({ TEMPORAL_TASK_QUEUE: `${env.TEMPORAL_TASK_QUEUE}-nobody` });
    assert.equal(noWorker.code, 1);
    assert.match(noWorker.stdout, /^unhealthy: no worker of this host .* polls task queue/);
    const noFolder = check({ BACKUP_DIR: join(scratch, 'missing') });
    assert.equal(noFolder.code, 1);
    assert.match(noFolder.stdout, /^unhealthy: .*missing \(BACKUP_DIR\) is not writable: ENOENT/);
    const noTemporal = check({ TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(noTemporal.code, 1);
    assert.match(noTemporal.stdout, /^unhealthy: cannot reach Temporal at 127\.0\.0\.1:1/);
    assert.ok(POLLER_FRESH_MS >= 70_000, 'a long poll (about a minute) never looks stale');
  });

  test('every script passes bash -n', () => {
    for (const script of ['backup.sh', 'restore.sh', 'backup-scheduler.sh']) {
      const checked = spawnSync('bash', ['-n', scripts(script)], { encoding: 'utf8' });
      assert.equal(checked.status, 0, checked.stderr);
      assert.match(read(`scripts/${script}`), /^#!\/usr\/bin\/env bash\n[\s\S]*\nset -euo pipefail\n/);
    }
  });
});
