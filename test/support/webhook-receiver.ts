/** A local HTTP receiver for BACKUP_NOTIFY_WEBHOOK (format `json`): every notification the worker posts, parsed. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Notification } from '../../core/contract';

export interface WebhookReceiver {
  /** The value for BACKUP_NOTIFY_WEBHOOK. */
  url: string;
  /** The notifications received so far, oldest first. */
  received: Notification[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: Notification[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(body) as Notification);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-token`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
