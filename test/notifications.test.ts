/**
 * Notifications delivered for real: a real SMTP server (smtp-server) and a local HTTP receiver, both
 * started here; the messages they receive are parsed and their content checked.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { loadConfig } from '../core/config';
import type { Notification } from '../core/contract';
import { createNotificationActivities } from '../activities/notifications';
import { freePort } from '../devstack/ports';
import { scratchDir } from './support/stack';

const logDir = scratchDir('notifications');
after(() => rmSync(logDir, { recursive: true, force: true }));

/** The secret parts of the webhook URL: they must never show up in an outcome or a log. */
const TOKEN = 'xoxTOKEN9s3cr3tPathPart';
const WEBHOOK_PATH = `/services/T0SECRET1/B0SECRET2/${TOKEN}`;
const SMTP_PASSWORD = 'smtp-pa55word-secret';

const PARTIAL: Notification = {
  kind: 'backup',
  outcome: 'partial',
  title: 'daily backup scholaria_backup_20260301_020000 is partial',
  tier: 'daily',
  set: 'scholaria_backup_20260301_020000',
  store: 'redis',
  reason: 'replication refused by <redis-host>: NOAUTH Authentication required & no retry can help',
  workflowId: 'backup-daily-20260301T020000Z',
  url: 'http://127.0.0.1:8233/namespaces/default/workflows/backup-daily-20260301T020000Z/01J0RUN/history',
  details: [
    'postgres: complete, 12.3 MB, verified (pg_restore read the whole archive, row counts match for all 42 tables of the database)',
    'redis: failed after 3 attempts → the set is partial, Größe unbekannt',
  ],
};

const SUCCEEDED: Notification = {
  kind: 'backup',
  outcome: 'succeeded',
  title: 'weekly backup scholaria_backup_20260302_020000 is complete',
  tier: 'weekly',
  set: 'scholaria_backup_20260302_020000',
  details: ['postgres: 12.3 MB', 'redis: 1.1 MB'],
};

// ---------------------------------------------------------------------------------------------
// A real SMTP server

interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

async function startSmtp(options: Partial<SMTPServerOptions> = {}): Promise<{ port: number; mails: ReceivedMail[]; close(): Promise<void> }> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
    ...options,
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Headers (unfolded, lower-case names) and the decoded text body of a single-part message. */
function parseMail(raw: string): { headers: Record<string, string>; subject: string; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  assert.ok(split > 0, 'the message has headers and a body');
  const headers: Record<string, string> = {};
  for (const line of raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  assert.match(headers['content-type'] ?? '', /^text\/plain/i, 'a plain-text message');
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const rawBody = raw.slice(split + 4);
  const body =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(rawBody)
      : encoding === 'base64'
        ? Buffer.from(rawBody.replace(/\s+/g, ''), 'base64').toString('utf8')
        : rawBody;
  return { headers, subject: decodeEncodedWords(headers.subject ?? ''), body: body.replace(/\r\n/g, '\n') };
}

function decodeQuotedPrintable(text: string): string {
  const latin1 = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

function decodeEncodedWords(text: string): string {
  return text
    .replace(/(=\?[^?]+\?[QB]\?[^?]*\?=)\s+(?==\?)/gi, '$1')
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_, _charset: string, kind: string, data: string) =>
      kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}

// ---------------------------------------------------------------------------------------------
// A local HTTP receiver

interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Answers the n-th request (0-based) with `statusOf(n)`; records every request. */
async function startReceiver(statusOf: (n: number) => number = () => 200): Promise<{ port: number; requests: ReceivedRequest[]; close(): Promise<void> }> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const n = requests.length;
      requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = statusOf(n);
      if (status === 204) response.writeHead(204).end();
      else response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `receiver says no (${status})`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function webhookEnv(port: number, format?: 'slack' | 'discord' | 'json'): Record<string, string> {
  return {
    LOG_DIR: logDir,
    LOG_LEVEL: 'warn',
    BACKUP_NOTIFY_WEBHOOK: `http://127.0.0.1:${port}${WEBHOOK_PATH}`,
    ...(format ? { BACKUP_NOTIFY_WEBHOOK_FORMAT: format } : {}),
  };
}

function emailEnv(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LOG_DIR: logDir,
    LOG_LEVEL: 'warn',
    BACKUP_NOTIFY_EMAIL: 'ops@scholaria.test, oncall@scholaria.test',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(port),
    SMTP_SECURE: 'false',
    SMTP_FROM: 'backup@scholaria.test',
    ...extra,
  };
}

function assertNoSecrets(text: string): void {
  for (const secret of [TOKEN, WEBHOOK_PATH, 'T0SECRET1', 'B0SECRET2', SMTP_PASSWORD]) {
    assert.ok(!text.includes(secret), `"${secret}" must not appear in: ${text}`);
  }
}

// ---------------------------------------------------------------------------------------------

test('notifications: no channel configured sends nothing and returns no outcome', async () => {
  const activities = createNotificationActivities(loadConfig({ LOG_DIR: logDir }));
  assert.deepEqual(await activities.notify(PARTIAL), []);
});

test('notifications: e-mail over a real SMTP server names the tier, set, store, reason and the Web UI link', async () => {
  const smtp = await startSmtp();
  try {
    const outcomes = await createNotificationActivities(loadConfig(emailEnv(smtp.port))).notify(PARTIAL);
    assert.deepEqual(outcomes, [{ channel: 'email', delivered: true }]);
    assert.equal(smtp.mails.length, 1);
    const mail = smtp.mails[0]!;
    assert.equal(mail.from, 'backup@scholaria.test');
    assert.deepEqual(mail.to.sort(), ['oncall@scholaria.test', 'ops@scholaria.test']);
    const { headers, subject, body } = parseMail(mail.raw);
    assert.equal(subject, '[scholaria-backup] FAILED: daily backup scholaria_backup_20260301_020000 is partial');
    assert.match(headers.to ?? '', /ops@scholaria\.test/);
    assert.match(headers.to ?? '', /oncall@scholaria\.test/);
    assert.match(headers.from ?? '', /backup@scholaria\.test/);
    assert.match(body, /^daily backup scholaria_backup_20260301_020000 is partial\n/);
    assert.match(body, /^Tier: +daily$/m);
    assert.match(body, /^Set: +scholaria_backup_20260301_020000$/m);
    assert.match(body, /^Store: +redis$/m);
    assert.ok(body.includes(`Reason:   ${PARTIAL.reason}`), body);
    assert.ok(body.includes(`Web UI:   ${PARTIAL.url}`), body);
    assert.ok(body.includes(`Workflow: ${PARTIAL.workflowId}`), body);
    for (const line of PARTIAL.details) assert.ok(body.includes(`  - ${line}`), `details line "${line}" in:\n${body}`);
    assert.match(body, /^Host: \S+$/m);
  } finally {
    await smtp.close();
  }
});

test('notifications: e-mail with AUTH PLAIN; a wrong password is a failed outcome that never shows the password', async () => {
  const logins: { username: string | undefined; method: string }[] = [];
  const smtp = await startSmtp({
    authOptional: false,
    allowInsecureAuth: true,
    authMethods: ['PLAIN'],
    onAuth(auth, _session, callback) {
      logins.push({ username: auth.username, method: auth.method });
      if (auth.username === 'backup' && auth.password === SMTP_PASSWORD) callback(null, { user: 'backup' });
      else callback(new Error('Invalid username or password'));
    },
  });
  try {
    const good = await createNotificationActivities(
      loadConfig(emailEnv(smtp.port, { SMTP_USER: 'backup', SMTP_PASSWORD })),
    ).notify(SUCCEEDED);
    assert.deepEqual(good, [{ channel: 'email', delivered: true }]);
    assert.deepEqual(logins, [{ username: 'backup', method: 'PLAIN' }]);
    assert.equal(smtp.mails.length, 1);
    const { subject, body } = parseMail(smtp.mails[0]!.raw);
    assert.equal(subject, '[scholaria-backup] OK: weekly backup scholaria_backup_20260302_020000 is complete');
    assert.match(body, /^Outcome: +succeeded$/m);
    assert.match(body, /^Tier: +weekly$/m);

    const wrongPassword = `${SMTP_PASSWORD}-wrong`;
    const [bad] = await createNotificationActivities(
      loadConfig(emailEnv(smtp.port, { SMTP_USER: 'backup', SMTP_PASSWORD: wrongPassword })),
    ).notify(PARTIAL);
    assert.equal(bad?.channel, 'email');
    assert.equal(bad?.delivered, false);
    assert.match(bad?.error ?? '', /^email via 127\.0\.0\.1:\d+: .*(535|Invalid)/);
    assert.ok(!bad?.error?.includes(wrongPassword) && !bad?.error?.includes(SMTP_PASSWORD), bad?.error);
    assert.equal(logins.length, 4, 'one good login, then three attempts with the wrong password');
    assert.equal(smtp.mails.length, 1);
  } finally {
    await smtp.close();
  }
});

test('notifications: Slack format (forced by BACKUP_NOTIFY_WEBHOOK_FORMAT) with header, fields and the run link', async () => {
  const receiver = await startReceiver();
  try {
    const outcomes = await createNotificationActivities(loadConfig(webhookEnv(receiver.port, 'slack'))).notify(PARTIAL);
    assert.deepEqual(outcomes, [{ channel: 'webhook', delivered: true }]);
    assert.equal(receiver.requests.length, 1);
    const request = receiver.requests[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, WEBHOOK_PATH);
    assert.match(request.headers['content-type'] ?? '', /^application\/json/);
    const payload = JSON.parse(request.body) as { text: string; blocks: { type: string; text?: { type: string; text: string }; fields?: { type: string; text: string }[] }[] };
    assert.match(payload.text, /FAILED: daily backup scholaria_backup_20260301_020000 is partial/);
    const header = payload.blocks[0]!;
    assert.equal(header.type, 'header');
    assert.equal(header.text?.type, 'plain_text');
    assert.match(header.text?.text ?? '', /FAILED: daily backup scholaria_backup_20260301_020000 is partial/);
    const fields = payload.blocks.find((block) => block.fields)?.fields ?? [];
    assert.deepEqual(
      fields.map((field) => field.text),
      [
        '*Tier*\ndaily',
        '*Set*\nscholaria_backup_20260301_020000',
        '*Store*\nredis',
        '*Reason*\nreplication refused by &lt;redis-host&gt;: NOAUTH Authentication required &amp; no retry can help',
      ],
    );
    assert.ok(fields.every((field) => field.type === 'mrkdwn'));
    const texts = payload.blocks.map((block) => block.text?.text ?? '').join('\n');
    assert.ok(texts.includes(`<${PARTIAL.url}|Open in Temporal UI>`), texts);
    assert.ok(texts.includes('• redis: failed after 3 attempts → the set is partial'), texts);
  } finally {
    await receiver.close();
  }
});

test('notifications: Discord format, red for a failure and green for a success, within Discord limits', async () => {
  const receiver = await startReceiver(() => 204);
  type Embed = { title: string; description?: string; color: number; url?: string; fields: { name: string; value: string; inline: boolean }[]; footer?: { text: string } };
  try {
    const activities = createNotificationActivities(loadConfig(webhookEnv(receiver.port, 'discord')));
    assert.deepEqual(await activities.notify(PARTIAL), [{ channel: 'webhook', delivered: true }]);
    const failed = JSON.parse(receiver.requests[0]!.body) as { content: string; embeds: Embed[] };
    assert.match(failed.content, /FAILED: daily backup scholaria_backup_20260301_020000 is partial/);
    assert.equal(failed.embeds.length, 1);
    const embed = failed.embeds[0]!;
    assert.equal(embed.title, 'FAILED: daily backup scholaria_backup_20260301_020000 is partial');
    assert.equal(embed.color, 0xd32f2f);
    assert.equal(embed.url, PARTIAL.url);
    const field = (name: string) => embed.fields.find((f) => f.name === name);
    assert.deepEqual(field('Tier'), { name: 'Tier', value: 'daily', inline: true });
    assert.deepEqual(field('Set'), { name: 'Set', value: 'scholaria_backup_20260301_020000', inline: true });
    assert.deepEqual(field('Store'), { name: 'Store', value: 'redis', inline: true });
    assert.deepEqual(field('Reason'), { name: 'Reason', value: PARTIAL.reason, inline: false });
    assert.ok(embed.description?.includes(`[Open in Temporal UI](${PARTIAL.url})`), embed.description);
    assert.ok(embed.description?.includes(PARTIAL.details[0]!), embed.description);

    assert.deepEqual(await activities.notify(SUCCEEDED), [{ channel: 'webhook', delivered: true }]);
    const succeeded = JSON.parse(receiver.requests[1]!.body) as { embeds: Embed[] };
    assert.equal(succeeded.embeds[0]!.color, 0x2e7d32);
    assert.equal(succeeded.embeds[0]!.title, 'OK: weekly backup scholaria_backup_20260302_020000 is complete');
    assert.equal(succeeded.embeds[0]!.url, undefined, 'no link without a Web UI URL');

    const huge: Notification = {
      ...PARTIAL,
      title: `daily backup ${'x'.repeat(400)}`,
      reason: 'r'.repeat(5000),
      details: Array.from({ length: 200 }, (_, i) => `detail line ${i} ${'d'.repeat(60)}`),
    };
    assert.deepEqual(await activities.notify(huge), [{ channel: 'webhook', delivered: true }]);
    const limited = JSON.parse(receiver.requests[2]!.body) as { content: string; embeds: Embed[] };
    const big = limited.embeds[0]!;
    assert.equal(big.title.length, 256);
    assert.ok(big.title.endsWith('…'));
    const reason = big.fields.find((f) => f.name === 'Reason')!;
    assert.equal(reason.value.length, 1024);
    assert.ok(reason.value.endsWith('…'));
    assert.ok((big.description ?? '').length <= 4096);
    assert.ok(big.description?.endsWith(`[Open in Temporal UI](${PARTIAL.url})`), 'the link survives the cut');
    const total = big.title.length + (big.description ?? '').length + (big.footer?.text.length ?? 0) + big.fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
    assert.ok(total <= 6000, `embed of ${total} characters`);
    assert.ok(limited.content.length <= 2000);
  } finally {
    await receiver.close();
  }
});

test('notifications: JSON format is the notification as is, with its source', async () => {
  const receiver = await startReceiver();
  try {
    const outcomes = await createNotificationActivities(loadConfig(webhookEnv(receiver.port))).notify(PARTIAL);
    assert.deepEqual(outcomes, [{ channel: 'webhook', delivered: true }]);
    assert.deepEqual(JSON.parse(receiver.requests[0]!.body), { ...PARTIAL, source: 'scholaria-backup' });
    assert.match(receiver.requests[0]!.headers['content-type'] ?? '', /^application\/json/);
  } finally {
    await receiver.close();
  }
});

test('notifications: a receiver that fails twice gets the notification on the third attempt, after a real backoff', async () => {
  const receiver = await startReceiver((n) => (n < 2 ? 500 : 200));
  try {
    const started = Date.now();
    const outcomes = await createNotificationActivities(loadConfig(webhookEnv(receiver.port, 'slack'))).notify(PARTIAL);
    const elapsed = Date.now() - started;
    assert.deepEqual(outcomes, [{ channel: 'webhook', delivered: true }]);
    assert.equal(receiver.requests.length, 3);
    assert.ok(receiver.requests.every((request) => request.body === receiver.requests[0]!.body), 'the same message each time');
    assert.ok(elapsed >= 2_900, `backoff of 1 s then 2 s, took ${elapsed} ms`);
  } finally {
    await receiver.close();
  }
});

test('notifications: a receiver that always fails is a failed outcome naming the host, never the token, and is logged', async () => {
  const receiver = await startReceiver(() => 500);
  try {
    const config = loadConfig(webhookEnv(receiver.port, 'discord'));
    const outcomes = await createNotificationActivities(config).notify(PARTIAL);
    assert.equal(outcomes.length, 1);
    const [outcome] = outcomes;
    assert.equal(outcome?.channel, 'webhook');
    assert.equal(outcome?.delivered, false);
    assert.equal(outcome?.error, `webhook to 127.0.0.1:${receiver.port}: HTTP 500 Internal Server Error: receiver says no (500)`);
    assertNoSecrets(JSON.stringify(outcomes));
    assert.equal(receiver.requests.length, 3);

    const logs = readdirSync(logDir)
      .filter((name) => name.endsWith('.log'))
      .map((name) => readFileSync(join(logDir, name), 'utf8'))
      .join('');
    assert.match(logs, /notification by webhook failed, retrying/);
    assert.match(logs, /notification by webhook not delivered after 3 attempts/);
    assert.ok(readdirSync(logDir).some((name) => /^backup-daily-\d{8}\.log$/.test(name)), 'in the tier log');
    assertNoSecrets(logs);
  } finally {
    await receiver.close();
  }
});

test('notifications: with the SMTP server down the e-mail fails on its own and the webhook is still delivered', async () => {
  const closedPort = await freePort();
  const receiver = await startReceiver();
  try {
    const config = loadConfig({ ...emailEnv(closedPort, { SMTP_USER: 'backup', SMTP_PASSWORD }), ...webhookEnv(receiver.port, 'json') });
    const outcomes = await createNotificationActivities(config).notify(PARTIAL);
    assert.equal(outcomes.length, 2);
    const email = outcomes.find((o) => o.channel === 'email');
    const webhook = outcomes.find((o) => o.channel === 'webhook');
    assert.deepEqual(webhook, { channel: 'webhook', delivered: true });
    assert.equal(email?.delivered, false);
    assert.match(email?.error ?? '', new RegExp(`^email via 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
    assert.equal(receiver.requests.length, 1);
    assertNoSecrets(JSON.stringify(outcomes));
  } finally {
    await receiver.close();
  }
});
