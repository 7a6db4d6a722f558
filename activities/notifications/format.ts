/**
 * The renderings of a notification: e-mail subject and plain-text body, Slack incoming-webhook
 * blocks, Discord embed, and plain JSON. Pure functions, no I/O.
 */
import type { Notification } from '../../core/contract';

export const SOURCE = 'scholaria-backup';

/** Every outcome but `succeeded` is a failure: a partial set, a rolled-back restore, a refused prune. */
export function isFailure(notification: Pick<Notification, 'outcome'>): boolean {
  return notification.outcome !== 'succeeded';
}

/** `ANOMALY` for an operation that worked but is unusual, `FAILED` for every other failure outcome (the title says which), `OK` for a success. */
export function outcomeLabel(notification: Pick<Notification, 'outcome'>): string {
  if (notification.outcome === 'anomaly') return 'ANOMALY';
  return isFailure(notification) ? 'FAILED' : 'OK';
}

/** Cuts a text to `max` characters (code units), ending with `…` when it was cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 1) return '…'.slice(0, max);
  let cut = text.slice(0, max - 1);
  // Never leave half of a surrogate pair behind.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The labelled facts every rendering shows, in order, absent ones left out. */
export function factsOf(notification: Notification): { label: string; value: string }[] {
  const facts: { label: string; value: string | undefined }[] = [
    { label: 'Tier', value: notification.tier },
    { label: 'Set', value: notification.set },
    { label: 'Store', value: notification.store },
    { label: 'Reason', value: notification.reason },
  ];
  return facts.filter((fact): fact is { label: string; value: string } => Boolean(fact.value?.trim()));
}

function detailsOf(notification: Notification): string[] {
  return (notification.details ?? []).map((line) => line.trimEnd()).filter((line) => line.trim() !== '');
}

// ---------------------------------------------------------------------------------------------
// E-mail

/** `[scholaria-backup] FAILED: daily backup scholaria_backup_20260301_020000 is partial` */
export function emailSubject(notification: Notification): string {
  return truncate(`[${SOURCE}] ${outcomeLabel(notification)}: ${oneLine(notification.title)}`, 200);
}

export function emailText(notification: Notification, context: { host: string; sentAt: Date }): string {
  const rows: [string, string | undefined][] = [
    ['Outcome', notification.outcome],
    ['Kind', notification.kind],
    ['Tier', notification.tier],
    ['Set', notification.set],
    ['Store', notification.store],
    ['Reason', notification.reason],
    ['Workflow', notification.workflowId],
    ['Web UI', notification.url ?? (notification.workflowId ? 'not linked (TEMPORAL_UI_URL is not set)' : undefined)],
  ];
  const present = rows.filter((row): row is [string, string] => Boolean(row[1]?.trim()));
  const width = Math.max(...present.map(([label]) => label.length)) + 2;
  const lines = [notification.title, '', ...present.map(([label, value]) => `${`${label}:`.padEnd(width)}${indentFollowing(value, width)}`)];
  const details = detailsOf(notification);
  if (details.length > 0) lines.push('', 'Details:', ...details.map((line) => `  - ${indentFollowing(line, 4)}`));
  lines.push('', `Host: ${context.host}`, `Sent by ${SOURCE} at ${context.sentAt.toISOString()}`, '');
  return lines.join('\n');
}

function indentFollowing(text: string, width: number): string {
  return text.replace(/\r?\n/g, `\n${' '.repeat(width)}`);
}

// ---------------------------------------------------------------------------------------------
// Slack (incoming webhook, Block Kit). Limits: header text 150, section text 3000, field 2000, 10 fields.

/** Slack's mrkdwn needs only these three escaped. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface SlackPayload {
  text: string;
  blocks: Record<string, unknown>[];
}

export function slackPayload(notification: Notification, context: { host: string }): SlackPayload {
  const failed = isFailure(notification);
  const headline = `${failed ? '🔴' : '🟢'} ${outcomeLabel(notification)}: ${oneLine(notification.title)}`;
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(headline, 150), emoji: true } },
  ];
  const facts = factsOf(notification);
  if (facts.length > 0) {
    blocks.push({
      type: 'section',
      fields: facts.map(({ label, value }) => ({ type: 'mrkdwn', text: truncate(`*${label}*\n${slackEscape(value)}`, 2000) })),
    });
  }
  const details = detailsOf(notification);
  if (details.length > 0) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(details.map((line) => `• ${slackEscape(line)}`).join('\n'), 3000) } });
  }
  if (notification.url) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `<${slackLinkTarget(notification.url)}|Open in Temporal UI>` } });
  }
  const footer = [`${SOURCE} on ${context.host}`, notification.workflowId ? `workflow ${notification.workflowId}` : undefined].filter(Boolean).join(' · ');
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(slackEscape(footer), 3000) }] });
  const fallback = [headline, ...facts.map(({ label, value }) => `${label}: ${oneLine(value)}`), notification.url].filter(Boolean).join('\n');
  return { text: truncate(fallback, 3000), blocks };
}

/** A URL inside `<url|label>` must not contain `|` or `>`; percent-encode them. */
function slackLinkTarget(url: string): string {
  return url.replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C');
}

// ---------------------------------------------------------------------------------------------
// Discord (webhook). Limits: content 2000, title 256, description 4096, field name 256, value 1024,
// 25 fields, 6000 characters for the whole embed.

export const DISCORD_RED = 0xd32f2f;
export const DISCORD_GREEN = 0x2e7d32;
const DISCORD_EMBED_TOTAL = 6000;

export interface DiscordEmbed {
  title: string;
  description?: string;
  color: number;
  url?: string;
  fields: { name: string; value: string; inline: boolean }[];
  footer: { text: string };
  timestamp: string;
}

export interface DiscordPayload {
  content: string;
  embeds: DiscordEmbed[];
  /** Text from errors must never ping anyone (`@everyone` in a reason). */
  allowed_mentions: { parse: never[] };
}

export function discordPayload(notification: Notification, context: { host: string; sentAt: Date }): DiscordPayload {
  const headline = `${outcomeLabel(notification)}: ${oneLine(notification.title)}`;
  const title = truncate(headline, 256);
  const fields = factsOf(notification).map(({ label, value }) => ({
    name: label,
    value: truncate(value, 1024),
    inline: label !== 'Reason',
  }));
  if (notification.workflowId) fields.push({ name: 'Workflow', value: truncate(notification.workflowId, 1024), inline: false });
  const footer = truncate(`${SOURCE} on ${context.host}`, 2048);
  const used = title.length + footer.length + fields.reduce((sum, field) => sum + field.name.length + field.value.length, 0);
  const linkLine = notification.url ? `[Open in Temporal UI](${notification.url})` : '';
  const details = detailsOf(notification).join('\n');
  const budget = Math.min(4096, DISCORD_EMBED_TOTAL - used);
  // The link goes last and is never the part that is cut.
  const room = budget - (linkLine ? linkLine.length + 2 : 0);
  const description = [details && room > 1 ? truncate(details, room) : '', linkLine].filter(Boolean).join('\n\n');
  const embed: DiscordEmbed = {
    title,
    ...(description && description.length <= budget ? { description } : {}),
    color: isFailure(notification) ? DISCORD_RED : DISCORD_GREEN,
    ...(notification.url ? { url: notification.url } : {}),
    fields,
    footer: { text: footer },
    timestamp: context.sentAt.toISOString(),
  };
  return { content: truncate(headline, 2000), embeds: [embed], allowed_mentions: { parse: [] } };
}

// ---------------------------------------------------------------------------------------------
// Plain JSON: the notification as is, for receivers of our own.

export function jsonPayload(notification: Notification): Notification & { source: typeof SOURCE } {
  return { ...notification, source: SOURCE };
}
