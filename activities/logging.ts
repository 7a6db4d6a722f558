/**
 * pino JSON logs to stdout and to `LOG_DIR/backup-<tier>-YYYYMMDD.log`. Every line passes through
 * `redactSecrets` (core/redaction.ts) first, so a URL with a password can never reach a log.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { redactSecrets } from '../core/redaction';

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
