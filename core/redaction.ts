/**
 * Secret values never reach a log line, a notification, an audit entry or an error message: every text
 * bound for one passes through `redactSecrets`. Pure string work, shared by the CLI, the worker and
 * the activities.
 */
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
