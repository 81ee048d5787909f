/**
 * What long work reports as it goes, for a progress display (display.ts) to show: blobs planned,
 * each blob's bytes as they pass, blobs found present or mounted, and, for a promotion, images. The
 * ops call these; with no display installed each call does nothing, and a blob's handle is one object
 * however many chunks pass through it (no allocation per chunk).
 */

/** How a blob was dealt with: moved (downloaded, uploaded, written) or found where it belongs. */
export type BlobOutcome = "downloaded" | "uploaded" | "written" | "present" | "mounted";

/** How an image of a promotion ended. */
export type ImageOutcome = "copied" | "present" | "failed";

export interface BlobProgress {
  /** `n` more bytes of this blob have passed. */
  add(n: number): void;
  /** The transfer starts again from byte 0 (a retry). */
  restart(): void;
  done(outcome: BlobOutcome): void;
}

export interface ProgressListener {
  /** `count` blobs of `bytes` in all will be dealt with (more may be planned later). */
  planBlobs(count: number, bytes: number): void;
  blob(digest: string, size: number): BlobProgress;
  planImages(count: number): void;
  image(name: string, outcome: ImageOutcome): void;
}

const IGNORED: BlobProgress = { add() {}, restart() {}, done() {} };

let listener: ProgressListener | undefined;

export function setProgressListener(l: ProgressListener | undefined): void {
  listener = l;
}

/** True for the handle given when no display listens (callers then skip counting altogether). */
export function isIgnored(blob: BlobProgress): boolean {
  return blob === IGNORED;
}

export function planBlobs(count: number, bytes: number): void {
  listener?.planBlobs(count, bytes);
}

/** A blob's transfer begins (or it is about to be looked for at its destination). */
export function trackBlob(digest: string, size: number): BlobProgress {
  return listener?.blob(digest, size) ?? IGNORED;
}

export function planImages(count: number): void {
  listener?.planImages(count);
}

export function imageFinished(name: string, outcome: ImageOutcome): void {
  listener?.image(name, outcome);
}
