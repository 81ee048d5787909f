/**
 * Paces the requests sent to one registry: at most `qps` a second when a rate is set (`--qps`), and
 * none at all while the registry has asked us to wait (a 429, for its Retry-After or our backoff).
 * One 429 holds back every request to that registry, not only the one refused: with many jobs in
 * flight, retrying each on its own keeps the registry over its quota (kpromo pauses all requests too).
 */
import { setTimeout as sleep } from "node:timers/promises";

export class RequestGate {
  private readonly intervalMs: number;
  private nextSlot = 0;
  private pausedUntil = 0;

  constructor(qps?: number) {
    this.intervalMs = qps !== undefined && qps > 0 ? 1000 / qps : 0;
  }

  /** Resolves when the next request may be sent. */
  async acquire(): Promise<void> {
    // A pause may be extended while we wait (another request got a 429 too).
    for (let now = Date.now(); now < this.pausedUntil; now = Date.now()) await sleep(this.pausedUntil - now);
    if (this.intervalMs === 0) return;
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + this.intervalMs;
    if (slot > now) await sleep(slot - now);
  }

  /** Holds back every request for `ms`. */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }
}
