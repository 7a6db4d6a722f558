/**
 * BACKUP_OFFSITE_BWLIMIT: one budget of bytes per second for the whole copy, shared by every part in
 * flight. A sender pays for its bytes before it sends them, so after any n bytes at least n/limit
 * seconds have passed since the copy started; bursts are one chunk long.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class BandwidthLimit {
  /** The moment up to which the budget is spent. */
  private spentUntil = Date.now();

  constructor(private readonly bytesPerSecond: number | undefined) {}

  /** Chunks small enough that a limited copy flows rather than bursts, large enough to keep requests few. */
  get chunkBytes(): number {
    return this.bytesPerSecond === undefined ? Infinity : Math.max(64 * 1024, Math.floor(this.bytesPerSecond / 4));
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.bytesPerSecond === undefined || bytes === 0) return;
    this.spentUntil = Math.max(this.spentUntil, Date.now()) + (bytes * 1000) / this.bytesPerSecond;
    const wait = this.spentUntil - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal });
  }
}
