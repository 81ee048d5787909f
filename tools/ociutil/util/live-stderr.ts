/**
 * stderr shared by a live display (progress redrawn in place) and the lines written around it
 * (--verbose, warnings, the final error): a line is written only after the display is cleared, so it
 * never lands in the middle of a redraw, and the display redraws itself below it later.
 */
export interface LiveDisplay {
  /** Erases what it drew; the next redraw draws it again. */
  clear(): void;
  /** Erases what it drew and stops for good. */
  close(): void;
}

let live: LiveDisplay | undefined;

export function setLiveDisplay(display: LiveDisplay | undefined): void {
  live = display;
}

/** Writes one line to stderr, clearing the live display first. */
export function writeStderrLine(line: string): void {
  live?.clear();
  process.stderr.write(`${line}\n`);
}

/** Before the last words (an error, an exit): nothing may be drawn below them. */
export function closeLiveDisplay(): void {
  const display = live;
  live = undefined;
  display?.close();
}
