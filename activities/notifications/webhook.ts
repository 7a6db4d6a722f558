import type { Config } from '../../core/config';
import type { Notification } from '../../core/contract';
import { discordPayload, jsonPayload, slackPayload } from './format';
import { scrub, webhookHost, webhookSecrets } from './redact';
import { DeliveryError } from './retry';

export const WEBHOOK_TIMEOUT_MS = 10_000;
/** How much of a refusing receiver's answer goes into the error (Slack says `invalid_blocks`, Discord a JSON message). */
const BODY_EXCERPT = 200;

type WebhookSettings = NonNullable<Config['notify']['webhook']>;

export function webhookBody(settings: Pick<WebhookSettings, 'format'>, notification: Notification, context: { host: string; sentAt: Date }): string {
  switch (settings.format) {
    case 'slack':
      return JSON.stringify(slackPayload(notification, context));
    case 'discord':
      return JSON.stringify(discordPayload(notification, context));
    case 'json':
      return JSON.stringify(jsonPayload(notification));
  }
}

/**
 * One POST of the JSON body; any answer but 2xx, a network error or the timeout is a DeliveryError
 * that names the receiver by its host only (the path of a Slack or Discord URL is its secret).
 */
export async function postWebhook(settings: WebhookSettings, body: string, timeoutMs = WEBHOOK_TIMEOUT_MS): Promise<void> {
  const host = webhookHost(settings.url);
  const secrets = webhookSecrets(settings.url);
  let response: Response;
  try {
    response = await fetch(settings.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'scholaria-backup' },
      body,
      // A redirect would turn the POST into a GET; report it instead of following it.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new DeliveryError(`webhook to ${host}: ${scrub(networkProblem(error, timeoutMs), secrets)}`);
  }
  const text = await readExcerpt(response, timeoutMs);
  if (response.status >= 200 && response.status < 300) return;
  const statusLine = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  const said = text.trim() ? `: ${text.trim()}` : '';
  throw new DeliveryError(scrub(`webhook to ${host}: ${statusLine}${said}`, secrets), retryAfterMs(response.headers.get('retry-after')));
}

async function readExcerpt(response: Response, timeoutMs: number): Promise<string> {
  try {
    const text = await Promise.race([
      response.text(),
      new Promise<string>((resolve) => setTimeout(() => resolve(''), timeoutMs).unref()),
    ]);
    return text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}…` : text;
  } catch {
    return '';
  }
}

function networkProblem(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') {
    return typeof cause.message === 'string' && cause.message ? `${cause.code} (${cause.message})` : cause.code;
  }
  if (cause && typeof cause.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
