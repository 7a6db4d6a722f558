import { z } from 'zod';
import { DEFAULT_LEVEL, LEVEL_RANGE, type Compression } from './compression';
import { parseBandwidth, parseOffsiteUrl } from './offsite';
import { STORE_NAMES, STORE_URL_VARIABLES, type StoreName, parseComponents } from './stores';

/**
 * The one configuration schema, read from the environment. Credentials stay in here and in the
 * worker's memory: they are never copied into workflow inputs, results, memos or logs.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const wholeDays = () =>
  z.coerce.number({ error: 'must be a whole number of days' }).int('must be a whole number of days').positive('must be at least 1 day');
const positiveDays = (fallback: number) => wholeDays().default(fallback);

const absolutePath = (fallback: string) =>
  z
    .string()
    .min(1, 'must not be empty')
    .refine((path) => path.startsWith('/'), 'must be an absolute path')
    .default(fallback);

/** `HH:MM`, 24-hour clock. */
const timeOfDay = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((time) => /^([01]\d|2[0-3]):[0-5]\d$/.test(time), 'must be a time of day as HH:MM, e.g. 02:00')
    .transform((time) => ({ hour: Number(time.slice(0, 2)), minute: Number(time.slice(3, 5)) }));

const urlWithScheme = (schemes: readonly string[]) =>
  z
    .string()
    .optional()
    .refine((value) => value === undefined || schemes.some((scheme) => value.startsWith(`${scheme}://`)), {
      message: `must be a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`,
    })
    .refine((value) => value === undefined || URL.canParse(value), { message: 'is not a valid URL' });

/** An age X25519 recipient: `age1` and 58 bech32 characters. */
const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
/** An OpenSSH public key line as age accepts it: type, base64 key, optional comment. */
const SSH_RECIPIENT = /^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/]{40,}={0,3}( [^\n]*)?$/;

/** One age recipient, trimmed, or why it is not one (the key is shortened: it is public, but long). */
export function parseRecipient(text: string): string {
  const recipient = text.trim().replace(/\s+/g, ' ');
  if (AGE_RECIPIENT.test(recipient) || SSH_RECIPIENT.test(recipient)) return recipient;
  const shown = recipient.length > 24 ? `${recipient.slice(0, 20)}...` : recipient;
  if (recipient.startsWith('AGE-SECRET-KEY-')) throw new ConfigError('holds an age identity (AGE-SECRET-KEY-...), a private key: give its public key (age-keygen -y) instead');
  throw new ConfigError(`has "${shown}", which is not an age recipient (age1..., ssh-ed25519 ... or ssh-rsa ...)`);
}

/** Recipients separated by commas (the variable) or by lines with `#` comments (a recipients file, as `age -R` reads it). */
export function parseRecipients(text: string, separator: 'comma' | 'line'): string[] {
  const parts = separator === 'comma' ? text.split(',') : text.split('\n').filter((line) => !line.trim().startsWith('#'));
  return parts.filter((part) => part.trim() !== '').map(parseRecipient);
}

/** A transform through one of our own parsers: what it throws becomes the variable's one-line issue. */
function parsedWith<T>(parse: (text: string) => T) {
  return (text: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  };
}

const environmentSchema = z.object({
  BACKUP_DIR: absolutePath('/backup'),
  LOG_DIR: absolutePath('/var/log/scholaria'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  BACKUP_DAILY_RETENTION: positiveDays(7),
  BACKUP_WEEKLY_RETENTION: positiveDays(30),
  BACKUP_MONTHLY_RETENTION: positiveDays(365),
  BACKUP_TIMEZONE: z
    .string()
    .default('UTC')
    .refine((zone) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone such as UTC or Asia/Seoul'),
  BACKUP_DAILY_TIME: timeOfDay('02:00'),
  BACKUP_WEEKLY_DAY: z
    .string()
    .default('sunday')
    .transform((day) => day.trim().toUpperCase())
    .pipe(z.enum(['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'], { error: 'must be a day of the week, e.g. sunday' })),
  BACKUP_WEEKLY_TIME: timeOfDay('03:00'),
  BACKUP_MONTHLY_DAY: z.coerce.number({ error: 'must be a day of the month, 1 to 28' }).int().min(1, 'must be a day of the month, 1 to 28').max(28, 'must be a day of the month, 1 to 28').default(1),
  BACKUP_MONTHLY_TIME: timeOfDay('04:00'),
  BACKUP_COMPRESSION: z.enum(['gzip', 'zstd'], { error: 'must be gzip or zstd' }).default('gzip'),
  BACKUP_COMPRESSION_LEVEL: z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number').optional(),
  BACKUP_APPLY_SCHEDULES: z.enum(['true', 'false', '1', '0']).default('true'),
  BACKUP_MIN_FREE_GB: z.coerce.number({ error: 'must be a number of gigabytes' }).nonnegative('must not be negative').default(1),
  BACKUP_COMPONENTS: z
    .string()
    .default(STORE_NAMES.join(','))
    .transform(parsedWith(parseComponents)),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7233')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('scholaria-backup'),
  TEMPORAL_TLS: z.enum(['true', 'false', '1', '0']).optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().optional().refine((path) => path === undefined || path.startsWith('/'), 'must be an absolute path'),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().optional().refine((path) => path === undefined || path.startsWith('/'), 'must be an absolute path'),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().optional().refine((path) => path === undefined || path.startsWith('/'), 'must be an absolute path'),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_UI_URL: z
    .string()
    .optional()
    .refine((value) => value === undefined || /^https?:\/\//.test(value), { message: 'must be an http:// or https:// URL' }),
  POSTGRES_URL: urlWithScheme(['postgres', 'postgresql']),
  REDIS_URL: urlWithScheme(['redis', 'rediss']),
  REDIS_RESTORE_METHOD: z.enum(['auto', 'replication', 'copy'], { error: 'must be auto, replication or copy' }).default('auto'),
  DRILL_POSTGRES_URL: urlWithScheme(['postgres', 'postgresql']),
  DRILL_REDIS_URL: urlWithScheme(['redis', 'rediss']),
  DRILL_QDRANT_URL: urlWithScheme(['http', 'https']),
  DRILL_CHECKS_SQL: z.string().optional().refine((path) => path === undefined || path.startsWith('/'), 'must be an absolute path'),
  BACKUP_METRICS_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(1).max(65535).optional(),
  BACKUP_DRILL_SCHEDULE: z
    .string()
    .optional()
    .refine((value) => value === undefined || value === 'off' || value.trim().split(/\s+/).length === 5, 'must be a cron expression (minute hour day-of-month month day-of-week) or off'),
  BACKUP_HEALTH_SCHEDULE: z
    .string()
    .optional()
    .refine((value) => value === undefined || value === 'off' || value.trim().split(/\s+/).length === 5, 'must be a cron expression (minute hour day-of-month month day-of-week) or off'),
  BACKUP_DRILL_MAX_AGE_DAYS: z.coerce.number({ error: 'must be a number of days' }).positive().default(8),
  BACKUP_NOTIFY_EMAIL: z
    .string()
    .optional()
    .transform((text) => text?.split(',').map((address) => address.trim()).filter(Boolean))
    .refine((addresses) => addresses === undefined || addresses.every((address) => /^[^\s@]+@[^\s@]+$/.test(address)), {
      message: 'must be e-mail addresses separated by commas',
    }),
  BACKUP_NOTIFY_WEBHOOK: urlWithScheme(['http', 'https']),
  BACKUP_NOTIFY_WEBHOOK_FORMAT: z.enum(['slack', 'discord', 'json']).optional(),
  BACKUP_NOTIFY_ON_SUCCESS: z.enum(['true', 'false', '1', '0']).default('false'),
  SMTP_HOST: z.string().min(1).optional(),
  SMTP_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(1).max(65535).default(587),
  SMTP_SECURE: z.enum(['true', 'false', '1', '0']).default('false'),
  SMTP_USER: z.string().min(1).optional(),
  SMTP_PASSWORD: z.string().min(1).optional(),
  SMTP_FROM: z.string().min(3).optional(),
  QDRANT_URL: urlWithScheme(['http', 'https']),
  QDRANT_API_KEY: z.string().min(1).optional(),
  /** Comma-separated collection names; all collections when unset. */
  QDRANT_COLLECTIONS: z
    .string()
    .optional()
    .transform((text) => text?.split(',').map((name) => name.trim()).filter(Boolean)),
  BACKUP_ENCRYPTION_RECIPIENTS: z
    .string()
    .transform(parsedWith((text) => parseRecipients(text, 'comma')))
    .optional()
    .transform((recipients) => recipients ?? []),
  BACKUP_ENCRYPTION_RECIPIENTS_FILE: z.string().optional().refine((path) => path === undefined || path.startsWith('/'), 'must be an absolute path'),
  BACKUP_ENCRYPTION_IDENTITY_FILE: z.string().optional().refine((path) => path === undefined || path.startsWith('/'), 'must be an absolute path'),
  BACKUP_AUDIT_MAX_FAILURES_PER_DAY: z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number').positive('must be at least 1').default(3),
  BACKUP_FILE_GROUP_READ: z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).default('false'),
  BACKUP_OFFSITE_URL: z.string().transform(parsedWith(parseOffsiteUrl)).optional(),
  BACKUP_OFFSITE_ENDPOINT: urlWithScheme(['http', 'https']),
  BACKUP_OFFSITE_REGION: z.string().regex(/^[a-z0-9-]+$/, 'must be a region name such as us-east-1').optional(),
  BACKUP_OFFSITE_FORCE_PATH_STYLE: z.enum(['true', 'false', '1', '0']).optional(),
  BACKUP_OFFSITE_BWLIMIT: z.string().transform(parsedWith(parseBandwidth)).optional(),
  BACKUP_OFFSITE_DAILY_RETENTION: wholeDays().optional(),
  BACKUP_OFFSITE_WEEKLY_RETENTION: wholeDays().optional(),
  BACKUP_OFFSITE_MONTHLY_RETENTION: wholeDays().optional(),
});

export interface Config {
  backupDir: string;
  logDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  retentionDays: { daily: number; weekly: number; monthly: number };
  /** Stores a backup covers when no --component is given. */
  components: StoreName[];
  schedule: {
    timezone: string;
    daily: { hour: number; minute: number };
    weekly: { day: 'SUNDAY' | 'MONDAY' | 'TUESDAY' | 'WEDNESDAY' | 'THURSDAY' | 'FRIDAY' | 'SATURDAY'; hour: number; minute: number };
    monthly: { day: number; hour: number; minute: number };
    /** The worker creates or updates the schedules when it starts. */
    applyAtStart: boolean;
  };
  /** How the set's files are compressed: gzip (the specification's names) or zstd (`.zst`, much faster). */
  compression: Compression;
  /** health-check fails below this much free space in BACKUP_DIR. */
  minFreeBytes: number;
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    uiUrl?: string;
    /** Present when the connection uses TLS: always with an API key (Temporal Cloud), or when asked. */
    tls?: { clientCertPath?: string; clientKeyPath?: string; serverCaCertPath?: string; serverName?: string };
    apiKey?: string;
  };
  storeUrls: Partial<Record<StoreName, string>>;
  /**
   * How a restore puts an RDB into the target Redis. `replication`: the target replicates from the
   * worker and loads the file itself; `copy`: FLUSHALL and DUMP/RESTORE of every key, which needs only
   * ordinary commands; `auto`: replication where the target allows it, else copy.
   */
  redisRestoreMethod: 'auto' | 'replication' | 'copy';
  /** The worker serves Prometheus metrics on this port when set. */
  metricsPort?: number;
  /** Restore drills: scratch servers (the production ones when absent), the operator's SQL checks, how old the last good drill may be. */
  drill: {
    storeUrls: Partial<Record<StoreName, string>>;
    checksSqlFile?: string;
    maxAgeDays: number;
    /** BACKUP_DRILL_SCHEDULE: a cron expression, `off`, or (absent) two hours after the weekly backup. */
    schedule?: string;
  };
  qdrant: { apiKey?: string; collections?: string[] };
  /** BACKUP_HEALTH_SCHEDULE: a cron expression, `off`, or (absent) every hour. */
  healthSchedule?: string;
  /**
   * age encryption of the set's data files. On when recipients are given (in the variable or the
   * file, read by the worker when it writes a set). The identity is a path only: its content is read
   * by `age` itself, never by this process, and is never copied anywhere.
   */
  encryption: { recipients: string[]; recipientsFile?: string; identityFile?: string };
  /** More failed restores or verifies than this within 24 hours is an anomaly (health-check, notification). */
  auditMaxFailuresPerDay: number;
  /** Sets, staging, safety snapshots and logs: owner-only (0700/0600), or readable by the group too (0750/0640). */
  groupRead: boolean;
  notify: {
    email?: {
      to: string[];
      smtp: { host: string; port: number; secure: boolean; user?: string; password?: string; from: string };
    };
    /** Slack or Discord by setting, else recognised from the URL; plain JSON otherwise. */
    webhook?: { url: string; format: 'slack' | 'discord' | 'json' };
    onSuccess: boolean;
  };
  /**
   * The offsite repository, when BACKUP_OFFSITE_URL is set. No credentials here: the S3 client takes
   * them from the AWS SDK's default chain (environment, profiles, instance roles) in the worker.
   */
  offsite?: OffsiteConfig;
}

export interface OffsiteConfig {
  bucket: string;
  /** Key prefix of the sets, without a trailing slash; '' for the bucket's root. */
  prefix: string;
  /** S3-compatible servers (MinIO, Ceph RGW, R2...); AWS S3 when unset. */
  endpoint?: string;
  region?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`; MinIO and rclone need it. */
  forcePathStyle: boolean;
  /** Bytes per second for the whole copy; unlimited when unset. */
  bandwidthBytesPerSecond?: number;
  /** Days per tier, each defaulting to the local retention. */
  retentionDays: { daily: number; weekly: number; monthly: number };
}

function webhookFormatOf(url: string, setting: 'slack' | 'discord' | 'json' | undefined): 'slack' | 'discord' | 'json' {
  if (setting) return setting;
  const host = new URL(url).hostname;
  if (host === 'hooks.slack.com' || host.endsWith('.slack.com')) return 'slack';
  if (host === 'discord.com' || host === 'discordapp.com' || host.endsWith('.discord.com')) return 'discord';
  return 'json';
}

/** Reads and validates the environment; the first problem becomes one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`${variable} ${issue.message}`);
  }
  const e = parsed.data;
  if (Boolean(e.TEMPORAL_TLS_CLIENT_CERT_PATH) !== Boolean(e.TEMPORAL_TLS_CLIENT_KEY_PATH)) {
    const missing = e.TEMPORAL_TLS_CLIENT_CERT_PATH ? 'TEMPORAL_TLS_CLIENT_KEY_PATH' : 'TEMPORAL_TLS_CLIENT_CERT_PATH';
    throw new ConfigError(`${missing} is not set; a client certificate needs both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH`);
  }
  const tlsAsked = e.TEMPORAL_TLS === 'true' || e.TEMPORAL_TLS === '1';
  const tlsRefused = e.TEMPORAL_TLS === 'false' || e.TEMPORAL_TLS === '0';
  const tlsImplied = Boolean(e.TEMPORAL_API_KEY || e.TEMPORAL_TLS_CLIENT_CERT_PATH || e.TEMPORAL_TLS_SERVER_CA_CERT_PATH || e.TEMPORAL_TLS_SERVER_NAME);
  if (tlsRefused && tlsImplied) throw new ConfigError('TEMPORAL_TLS is false, but TLS settings or TEMPORAL_API_KEY are set; an API key is only sent over TLS');
  if (e.BACKUP_NOTIFY_EMAIL?.length && !e.SMTP_HOST) {
    throw new ConfigError('SMTP_HOST is not set; it is needed to send notifications to BACKUP_NOTIFY_EMAIL');
  }
  const yes = (value: string) => value === 'true' || value === '1';
  const compression: Compression = { algorithm: e.BACKUP_COMPRESSION, level: e.BACKUP_COMPRESSION_LEVEL ?? DEFAULT_LEVEL[e.BACKUP_COMPRESSION] };
  const [lowest, highest] = LEVEL_RANGE[compression.algorithm];
  if (compression.level < lowest || compression.level > highest) {
    throw new ConfigError(`BACKUP_COMPRESSION_LEVEL must be between ${lowest} and ${highest} for ${compression.algorithm}`);
  }
  return {
    backupDir: e.BACKUP_DIR.replace(/\/+$/, '') || '/',
    logDir: e.LOG_DIR.replace(/\/+$/, '') || '/',
    logLevel: e.LOG_LEVEL,
    retentionDays: {
      daily: e.BACKUP_DAILY_RETENTION,
      weekly: e.BACKUP_WEEKLY_RETENTION,
      monthly: e.BACKUP_MONTHLY_RETENTION,
    },
    components: e.BACKUP_COMPONENTS,
    schedule: {
      timezone: e.BACKUP_TIMEZONE,
      daily: e.BACKUP_DAILY_TIME,
      weekly: { day: e.BACKUP_WEEKLY_DAY, ...e.BACKUP_WEEKLY_TIME },
      monthly: { day: e.BACKUP_MONTHLY_DAY, ...e.BACKUP_MONTHLY_TIME },
      applyAtStart: yes(e.BACKUP_APPLY_SCHEDULES),
    },
    minFreeBytes: Math.round(e.BACKUP_MIN_FREE_GB * 1e9),
    compression,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL?.replace(/\/+$/, ''),
      tls:
        tlsAsked || tlsImplied
          ? {
              clientCertPath: e.TEMPORAL_TLS_CLIENT_CERT_PATH,
              clientKeyPath: e.TEMPORAL_TLS_CLIENT_KEY_PATH,
              serverCaCertPath: e.TEMPORAL_TLS_SERVER_CA_CERT_PATH,
              serverName: e.TEMPORAL_TLS_SERVER_NAME,
            }
          : undefined,
      apiKey: e.TEMPORAL_API_KEY,
    },
    storeUrls: { postgres: e.POSTGRES_URL, redis: e.REDIS_URL, qdrant: e.QDRANT_URL },
    redisRestoreMethod: e.REDIS_RESTORE_METHOD,
    metricsPort: e.BACKUP_METRICS_PORT,
    drill: {
      storeUrls: { postgres: e.DRILL_POSTGRES_URL, redis: e.DRILL_REDIS_URL, qdrant: e.DRILL_QDRANT_URL },
      checksSqlFile: e.DRILL_CHECKS_SQL,
      maxAgeDays: e.BACKUP_DRILL_MAX_AGE_DAYS,
      schedule: e.BACKUP_DRILL_SCHEDULE?.trim(),
    },
    qdrant: { apiKey: e.QDRANT_API_KEY, collections: e.QDRANT_COLLECTIONS },
    healthSchedule: e.BACKUP_HEALTH_SCHEDULE?.trim(),
    encryption: {
      recipients: e.BACKUP_ENCRYPTION_RECIPIENTS,
      recipientsFile: e.BACKUP_ENCRYPTION_RECIPIENTS_FILE,
      identityFile: e.BACKUP_ENCRYPTION_IDENTITY_FILE,
    },
    auditMaxFailuresPerDay: e.BACKUP_AUDIT_MAX_FAILURES_PER_DAY,
    groupRead: yes(e.BACKUP_FILE_GROUP_READ),
    notify: {
      email:
        e.BACKUP_NOTIFY_EMAIL?.length && e.SMTP_HOST
          ? {
              to: e.BACKUP_NOTIFY_EMAIL,
              smtp: {
                host: e.SMTP_HOST,
                port: e.SMTP_PORT,
                secure: yes(e.SMTP_SECURE),
                user: e.SMTP_USER,
                password: e.SMTP_PASSWORD,
                from: e.SMTP_FROM ?? 'scholaria-backup@localhost',
              },
            }
          : undefined,
      webhook: e.BACKUP_NOTIFY_WEBHOOK
        ? { url: e.BACKUP_NOTIFY_WEBHOOK, format: webhookFormatOf(e.BACKUP_NOTIFY_WEBHOOK, e.BACKUP_NOTIFY_WEBHOOK_FORMAT) }
        : undefined,
      onSuccess: yes(e.BACKUP_NOTIFY_ON_SUCCESS),
    },
    offsite: offsiteConfigOf(e),
  };
}

function offsiteConfigOf(e: z.infer<typeof environmentSchema>): OffsiteConfig | undefined {
  const location = e.BACKUP_OFFSITE_URL;
  if (!location) {
    const stray = (['BACKUP_OFFSITE_ENDPOINT', 'BACKUP_OFFSITE_REGION', 'BACKUP_OFFSITE_BWLIMIT'] as const).find((name) => e[name] !== undefined);
    if (stray) throw new ConfigError(`${stray} is set but BACKUP_OFFSITE_URL is not; set BACKUP_OFFSITE_URL=s3://bucket/prefix to turn offsite copies on`);
    return undefined;
  }
  const pathStyle = e.BACKUP_OFFSITE_FORCE_PATH_STYLE;
  return {
    ...location,
    endpoint: e.BACKUP_OFFSITE_ENDPOINT?.replace(/\/+$/, ''),
    // A custom endpoint with no region of its own (MinIO, rclone) still needs one for request signing.
    region: e.BACKUP_OFFSITE_REGION ?? (e.BACKUP_OFFSITE_ENDPOINT ? 'us-east-1' : undefined),
    // Most S3-compatible servers serve only path-style URLs; AWS prefers virtual-hosted ones.
    forcePathStyle: pathStyle === undefined ? e.BACKUP_OFFSITE_ENDPOINT !== undefined : pathStyle === 'true' || pathStyle === '1',
    bandwidthBytesPerSecond: e.BACKUP_OFFSITE_BWLIMIT,
    retentionDays: {
      daily: e.BACKUP_OFFSITE_DAILY_RETENTION ?? e.BACKUP_DAILY_RETENTION,
      weekly: e.BACKUP_OFFSITE_WEEKLY_RETENTION ?? e.BACKUP_WEEKLY_RETENTION,
      monthly: e.BACKUP_OFFSITE_MONTHLY_RETENTION ?? e.BACKUP_MONTHLY_RETENTION,
    },
  };
}

export interface FileModes {
  directory: number;
  file: number;
  /** The process umask that gives at most these modes to whatever else the process and its children create. */
  umask: number;
}

/**
 * Sets, staging, safety snapshots and logs: owner-only (0700/0600), or readable by the owner's group
 * with BACKUP_FILE_GROUP_READ=true (0750/0640, as pgBackRest allows). Never readable by others.
 */
export function fileModesOf(config: Pick<Config, 'groupRead'>): FileModes {
  return config.groupRead ? { directory: 0o750, file: 0o640, umask: 0o027 } : { directory: 0o700, file: 0o600, umask: 0o077 };
}

/** The URL of a store the caller is about to use; a missing one is a configuration error naming the variable. */
export function storeUrl(config: Config, store: StoreName): string {
  const url = config.storeUrls[store];
  if (!url) throw new ConfigError(`${STORE_URL_VARIABLES[store]} is not set; it is needed to back up or restore ${store}`);
  return url;
}
