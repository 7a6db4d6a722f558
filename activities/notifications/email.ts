import { createTransport } from 'nodemailer';
import type { Config } from '../../core/config';
import { scrub } from './redact';
import { DeliveryError } from './retry';

export const SMTP_TIMEOUT_MS = 10_000;

type EmailSettings = NonNullable<Config['notify']['email']>;

export interface EmailMessage {
  subject: string;
  text: string;
}

/** The SMTP password (and the user, harmless but pointless in a log) never appear in an error. */
export function emailSecrets(settings: EmailSettings): string[] {
  return [settings.smtp.password].filter((value): value is string => Boolean(value));
}

/** Where mail goes, for people: the SMTP server, never its credentials. */
export function smtpServer(settings: EmailSettings): string {
  return `${settings.smtp.host}:${settings.smtp.port}`;
}

/**
 * Sends one plain-text message over SMTP with a fresh connection: implicit TLS when `secure`, else
 * STARTTLS when the server offers it; AUTH only when a user is configured.
 */
export async function sendEmail(settings: EmailSettings, message: EmailMessage, timeoutMs = SMTP_TIMEOUT_MS): Promise<void> {
  const { smtp } = settings;
  const transport = createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    logger: false,
    debug: false,
  });
  try {
    await transport.sendMail({
      from: smtp.from,
      to: settings.to,
      subject: message.subject,
      text: message.text,
      textEncoding: 'quoted-printable',
      headers: { 'Auto-Submitted': 'auto-generated' },
    });
  } catch (error) {
    const err: Error & { code?: unknown } = error instanceof Error ? error : new Error(String(error));
    const code = typeof err.code === 'string' && !err.message.includes(err.code) ? ` (${err.code})` : '';
    throw new DeliveryError(scrub(`email via ${smtpServer(settings)}: ${err.message}${code}`, emailSecrets(settings)));
  } finally {
    transport.close();
  }
}
