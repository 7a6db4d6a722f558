import { redactSecrets } from '../../core/redaction';

/**
 * The secret parts of a webhook URL: Slack (`/services/T…/B…/<token>`) and Discord
 * (`/api/webhooks/<id>/<token>`) carry their credentials in the path, others may in the query.
 * Everything but the host is treated as secret.
 */
export function webhookSecrets(url: string): string[] {
  const secrets = new Set<string>([url]);
  if (!URL.canParse(url)) return [...secrets];
  const parsed = new URL(url);
  secrets.add(parsed.href);
  if (parsed.password) secrets.add(parsed.password);
  if (parsed.pathname.length > 1) secrets.add(parsed.pathname);
  if (parsed.search) secrets.add(parsed.search);
  for (const segment of parsed.pathname.split('/')) {
    // Words such as `services`, `api` and `webhooks` are not secret; ids and tokens hold digits or are long.
    if (segment.length >= 6 && (/\d/.test(segment) || segment.length >= 16)) {
      secrets.add(segment);
      secrets.add(safeDecode(segment));
    }
  }
  for (const value of parsed.searchParams.values()) if (value.length >= 4) secrets.add(value);
  return [...secrets];
}

/** Where a webhook goes, for people: its host (and port) only. */
export function webhookHost(url: string): string {
  return URL.canParse(url) ? new URL(url).host : 'an invalid URL';
}

/** One line, without any of `secrets` (longest first) nor any registered secret or URL password. */
export function scrub(text: string, secrets: readonly string[]): string {
  let result = text.replace(/\s*[\r\n]+\s*/g, '; ').trim();
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
    result = result.split(secret).join('***');
  }
  return redactSecrets(result);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
