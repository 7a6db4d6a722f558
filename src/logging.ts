/**
 * pino JSON logs to stdout and to `LOG_DIR/backup-<tier>-YYYYMMDD.log`. Every line passes through
 * `redactSecrets` first, so a URL with a password can never reach a log.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/\s:@]*):([^@\s/]*)@/gi;

/** Masks the password of every URL in a text, and every known secret value. */
export function redactSecrets(text: string, secrets: readonly string[] = knownSecrets): string {
  let result = text.replace(URL_CREDENTIALS, '$1$2:***@');
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('***');
  }
  return result;
}

let knownSecrets: string[] = [];

/** Registers the secret values (passwords, API keys) found in the configuration, so they are masked wherever they appear. */
export function registerSecrets(urls: readonly (string | undefined)[], extra: readonly (string | undefined)[] = []): void {
  const found = new Set<string>(knownSecrets);
  for (const url of urls) {
    if (!url || !URL.canParse(url)) continue;
    const password = decodeURIComponent(new URL(url).password);
    if (password) {
      found.add(password);
      found.add(new URL(url).password);
    }
  }
  for (const value of extra) if (value) found.add(value);
  knownSecrets = [...found];
}

function redactingHooks(): pino.LoggerOptions['hooks'] {
  return {
    logMethod(args, method) {
      const masked = args.map((arg) =>
        typeof arg === 'string' ? redactSecrets(arg) : arg instanceof Error ? redactSecrets(arg.message) : maskObject(arg),
      );
      method.apply(this, masked as Parameters<typeof method>);
    },
  };
}

function maskObject(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'string' ? redactSecrets(value) : value;
  return JSON.parse(redactSecrets(JSON.stringify(value)));
}

const loggers = new Map<string, Logger>();

/** The logger of one tier on one day: stdout plus the tier's daily file. */
export function tierLogger(logDir: string, tier: string, level: string, now = new Date()): Logger {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '');
  const file = join(logDir, `backup-${tier}-${day}.log`);
  const cached = loggers.get(file);
  if (cached) return cached;
  mkdirSync(logDir, { recursive: true });
  const logger = pino(
    { level, base: { tier }, hooks: redactingHooks(), timestamp: pino.stdTimeFunctions.isoTime },
    pino.multistream([
      { level: level as pino.Level, stream: process.stdout },
      { level: level as pino.Level, stream: pino.destination({ dest: file, append: true, sync: true }) },
    ]),
  );
  loggers.set(file, logger);
  return logger;
}

/** A logger for the worker's own lifecycle, stdout only. */
export function processLogger(level: string, name: string): Logger {
  return pino({ level, name, hooks: redactingHooks(), timestamp: pino.stdTimeFunctions.isoTime });
}
