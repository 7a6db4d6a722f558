/**
 * Notifications for people: e-mail over SMTP and a webhook (Slack, Discord or plain JSON). Each
 * configured channel is tried up to three times on its own; a channel that still fails is logged and
 * reported in the result, never thrown, so a notification can never fail the run that sends it.
 * Whether successes are announced (BACKUP_NOTIFY_ON_SUCCESS) is the caller's decision.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../../core/config';
import type { ChannelOutcome, Notification, NotificationActivities } from '../../core/contract';
import { processLogger, tierLogger } from '../logging';
import { emailSecrets, sendEmail, smtpServer } from './email';
import { emailSubject, emailText } from './format';
import { scrub, webhookHost, webhookSecrets } from './redact';
import { deliverWithRetry, type AttemptLog } from './retry';
import { postWebhook, webhookBody } from './webhook';

export { emailSubject, emailText, slackPayload, discordPayload, jsonPayload } from './format';

export function createNotificationActivities(config: Config): NotificationActivities {
  return {
    async notify(notification) {
      const { email, webhook } = config.notify;
      if (!email && !webhook) return [];
      const context = { host: hostname(), sentAt: new Date() };
      const base = safeLog(loggerFor(config, notification), {
        notification: { kind: notification.kind, outcome: notification.outcome, tier: notification.tier, set: notification.set, workflowId: notification.workflowId },
      });
      const secrets = [...(email ? emailSecrets(email) : []), ...(webhook ? webhookSecrets(webhook.url) : [])];
      const deliveries: Promise<ChannelOutcome>[] = [];
      if (email) {
        const log = base.child({ to: email.to, smtp: smtpServer(email) });
        deliveries.push(
          guarded('email', log, secrets, () => {
            const message = { subject: emailSubject(notification), text: emailText(notification, context) };
            return deliverWithRetry('email', () => sendEmail(email, message), describe, log);
          }),
        );
      }
      if (webhook) {
        const log = base.child({ webhook: webhookHost(webhook.url), format: webhook.format });
        deliveries.push(
          guarded('webhook', log, secrets, () => {
            const body = webhookBody(webhook, notification, context);
            return deliverWithRetry('webhook', () => postWebhook(webhook, body), describe, log);
          }),
        );
      }
      return Promise.all(deliveries);
    },
  };
}

/** Errors reaching here come from sendEmail/postWebhook, already secret-free and one line. */
function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whatever goes wrong outside the delivery itself (rendering, say) is still an outcome, not a throw. */
async function guarded(
  channel: ChannelOutcome['channel'],
  log: SafeLog,
  secrets: readonly string[],
  run: () => Promise<ChannelOutcome>,
): Promise<ChannelOutcome> {
  try {
    return await run();
  } catch (error) {
    const message = scrub(`${channel}: ${error instanceof Error ? error.message : String(error)}`, secrets);
    log.error({ channel }, `notification by ${channel} not delivered: ${message}`);
    return { channel, delivered: false, error: message };
  }
}

/** The run's tier log (`backup-daily-….log`), or the kind's (`backup-restore-….log`); stdout only when LOG_DIR is unusable. */
function loggerFor(config: Config, notification: Notification): Logger {
  const category = (notification.tier ?? notification.kind).toLowerCase().replace(/[^a-z0-9-]+/g, '-') || 'notifications';
  try {
    return tierLogger(config.logDir, category, config.logLevel).child({ component: 'notifications' });
  } catch {
    return processLogger(config.logLevel, 'notifications');
  }
}

interface SafeLog extends AttemptLog {
  child(fields: Record<string, unknown>): SafeLog;
}

/** A logger whose failures (a full disk) are swallowed: logging must not turn a delivery into a throw. */
function safeLog(logger: Logger, fields: Record<string, unknown>): SafeLog {
  const child = logger.child(fields);
  const call = (level: 'info' | 'warn' | 'error') => (extra: Record<string, unknown>, message: string) => {
    try {
      child[level](extra, message);
    } catch {
      // nothing sensible to do
    }
  };
  return {
    info: call('info'),
    warn: call('warn'),
    error: call('error'),
    child: (more) => safeLog(child, more),
  };
}
