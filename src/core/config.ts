import { z } from 'zod';
import { STORE_NAMES, STORE_URL_VARIABLES, type StoreName, parseComponents } from './stores';

/**
 * The one configuration schema, read from the environment. Credentials stay in here and in the
 * worker's memory: they are never copied into workflow inputs, results, memos or logs.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const positiveDays = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number of days' })
    .int('must be a whole number of days')
    .positive('must be at least 1 day')
    .default(fallback);

const absolutePath = (fallback: string) =>
  z
    .string()
    .min(1, 'must not be empty')
    .refine((path) => path.startsWith('/'), 'must be an absolute path')
    .default(fallback);

const urlWithScheme = (schemes: readonly string[]) =>
  z
    .string()
    .optional()
    .refine((value) => value === undefined || schemes.some((scheme) => value.startsWith(`${scheme}://`)), {
      message: `must be a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`,
    })
    .refine((value) => value === undefined || URL.canParse(value), { message: 'is not a valid URL' });

const environmentSchema = z.object({
  BACKUP_DIR: absolutePath('/backup'),
  LOG_DIR: absolutePath('/var/log/scholaria'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  BACKUP_DAILY_RETENTION: positiveDays(7),
  BACKUP_WEEKLY_RETENTION: positiveDays(30),
  BACKUP_MONTHLY_RETENTION: positiveDays(365),
  BACKUP_COMPONENTS: z
    .string()
    .default(STORE_NAMES.join(','))
    .transform((text, ctx) => {
      try {
        return parseComponents(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
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
  QDRANT_URL: urlWithScheme(['http', 'https']),
  QDRANT_API_KEY: z.string().min(1).optional(),
  /** Comma-separated collection names; all collections when unset. */
  QDRANT_COLLECTIONS: z
    .string()
    .optional()
    .transform((text) => text?.split(',').map((name) => name.trim()).filter(Boolean)),
});

export interface Config {
  backupDir: string;
  logDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  retentionDays: { daily: number; weekly: number; monthly: number };
  /** Stores a backup covers when no --component is given. */
  components: StoreName[];
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
  qdrant: { apiKey?: string; collections?: string[] };
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
    qdrant: { apiKey: e.QDRANT_API_KEY, collections: e.QDRANT_COLLECTIONS },
  };
}

/** The URL of a store the caller is about to use; a missing one is a configuration error naming the variable. */
export function storeUrl(config: Config, store: StoreName): string {
  const url = config.storeUrls[store];
  if (!url) throw new ConfigError(`${STORE_URL_VARIABLES[store]} is not set; it is needed to back up or restore ${store}`);
  return url;
}
