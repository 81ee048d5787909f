/**
 * The progress display on stderr (--progress): `tty` redraws a block of lines in place, at most ten
 * times a second (one line per blob moving, a line of images for a promotion, a total line with rate
 * and time left); `plain` writes one line per blob or image finished, for CI logs. Either ends with
 * one summary line. Bytes are only added up as they pass; all drawing happens on the timer.
 */
import type { LiveDisplay } from "../util/live-stderr.js";
import type { BlobOutcome, BlobProgress, ImageOutcome, ProgressListener } from "./events.js";
import { formatBytes, formatDuration, formatRate, shortDigest } from "./format.js";

export type DisplayMode = "tty" | "plain";

const REDRAW_MS = 100;
/** Blobs shown one per line; more are counted on one line. */
const MAX_BLOB_LINES = 8;

class Blob implements BlobProgress {
  bytes = 0;
  readonly startedAt = performance.now();

  constructor(
    private readonly display: ProgressDisplay,
    readonly digest: string,
    readonly size: number,
  ) {}

  add(n: number): void {
    this.bytes += n;
    this.display.bytes += n;
  }

  restart(): void {
    this.display.bytes -= this.bytes;
    this.bytes = 0;
  }

  done(outcome: BlobOutcome): void {
    this.display.finish(this, outcome);
  }
}

export class ProgressDisplay implements ProgressListener, LiveDisplay {
  /** Bytes moved so far, of `expected` (blobs found present or mounted are taken out of it). */
  bytes = 0;
  expected = 0;
  private planned = 0;
  private readonly counts: Record<BlobOutcome, number> = { downloaded: 0, uploaded: 0, written: 0, present: 0, mounted: 0 };
  private images = { planned: 0, copied: 0, present: 0, failed: 0 };
  private readonly active = new Set<Blob>();
  private startedAt: number | undefined;
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly mode: DisplayMode,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  planBlobs(count: number, bytes: number): void {
    this.planned += count;
    this.expected += bytes;
    this.start();
  }

  blob(digest: string, size: number): BlobProgress {
    this.start();
    const b = new Blob(this, digest, size);
    this.active.add(b);
    return b;
  }

  planImages(count: number): void {
    this.images.planned += count;
    this.start();
  }

  image(name: string, outcome: ImageOutcome): void {
    this.images[outcome]++;
    if (this.mode === "plain" && !this.closed) this.out.write(`${outcome} ${name}\n`);
  }

  finish(b: Blob, outcome: BlobOutcome): void {
    if (!this.active.delete(b)) return;
    this.counts[outcome]++;
    if (outcome === "present" || outcome === "mounted") this.expected -= b.size;
    // A promotion's plain log is one line per image: thousands of images would mean many more blobs.
    if (this.mode === "plain" && !this.closed && this.images.planned === 0) {
      this.out.write(`${shortDigest(b.digest)}: ${outcome}${outcome === "present" || outcome === "mounted" ? "" : ` ${formatBytes(b.size)}`}\n`);
    }
  }

  clear(): void {
    if (this.drawnLines === 0) return;
    this.out.write(`\r\x1b[${this.drawnLines}A\x1b[J`);
    this.drawnLines = 0; // drawn again on the next tick
  }

  close(): void {
    this.stop();
    this.clear();
  }

  /** The work is done: the live lines give way to one summary line. */
  end(): void {
    if (this.closed) return;
    const nothing = this.startedAt === undefined;
    this.close();
    if (!nothing) this.out.write(`${this.summary()}\n`);
  }

  private start(): void {
    this.startedAt ??= performance.now();
    if (this.mode !== "tty" || this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
    this.timer.unref();
  }

  private stop(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every tick, moving or not: a stalled transfer shows its rate falling and its time left growing. */
  private draw(): void {
    if (this.closed) return;
    const width = Math.max(20, (this.out.columns || 80) - 1);
    const lines: string[] = [];
    const now = performance.now();
    let shown = 0;
    for (const b of this.active) {
      if (shown++ === MAX_BLOB_LINES) break;
      if (b.bytes === 0 && b.size > 0) continue; // not moving yet (looked for at its destination)
      const seconds = (now - b.startedAt) / 1000;
      lines.push(`${shortDigest(b.digest)}  ${formatBytes(b.bytes)} / ${formatBytes(b.size)}  ${percent(b.bytes, b.size)}  ${formatRate(seconds > 0 ? b.bytes / seconds : 0)}`);
    }
    if (this.active.size > MAX_BLOB_LINES) lines.push(`… and ${this.active.size - MAX_BLOB_LINES} more`);
    if (this.images.planned > 0) lines.push(this.imageLine());
    lines.push(this.totalLine(now));
    const frame = lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l)).join("\n");
    const erase = this.drawnLines > 0 ? `\r\x1b[${this.drawnLines}A\x1b[J` : "";
    this.out.write(`${erase}${frame}\n`);
    this.drawnLines = lines.length;
  }

  private imageLine(): string {
    const { planned, copied, present, failed } = this.images;
    return `images ${copied + present + failed}/${planned}: ${copied} copied, ${present} present, ${failed} failed`;
  }

  private totalLine(now: number): string {
    const seconds = (now - (this.startedAt ?? now)) / 1000;
    const rate = seconds > 0 ? this.bytes / seconds : 0;
    const left = this.expected - this.bytes;
    // In the first second the rate says little (connections opening): no guess yet.
    const eta = seconds >= 1 && rate > 0 && left > 0 ? `  ${formatDuration((left / rate) * 1000)} left` : "";
    return `${this.blobCounts()}  ${formatBytes(this.bytes)} / ${formatBytes(this.expected)}  ${percent(this.bytes, this.expected)}  ${formatRate(rate)}${eta}`;
  }

  private blobCounts(): string {
    const { present, mounted } = this.counts;
    const found = [present > 0 ? `${present} present` : "", mounted > 0 ? `${mounted} mounted` : ""].filter((s) => s !== "").join(", ");
    const of = this.planned > 0 ? `/${this.planned}` : "";
    return `blobs ${this.finished()}${of}${found !== "" ? ` (${found})` : ""}`;
  }

  private finished(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  private summary(): string {
    const seconds = (performance.now() - (this.startedAt ?? 0)) / 1000;
    const outcomes = (Object.entries(this.counts) as Array<[BlobOutcome, number]>).filter(([, n]) => n > 0).map(([o, n]) => `${n} ${o}`);
    const images = this.images.planned > 0 ? `${this.imageLine()}; ` : "";
    const rate = formatRate(seconds > 0 ? this.bytes / seconds : 0);
    return `${images}blobs: ${outcomes.join(", ") || "none"}; ${formatBytes(this.bytes)} in ${seconds.toFixed(1)}s (${rate})`;
  }
}

function percent(done: number, of: number): string {
  return `${of > 0 ? Math.min(100, Math.floor((done / of) * 100)) : 100}%`;
}
