/**
 * --progress auto|tty|plain|none (docker's convention): which display a command gets. `auto` draws
 * in place when stderr is a terminal and shows nothing otherwise (a pipe, a file, a Bazel action).
 */
import { closeLiveDisplay, setLiveDisplay } from "../util/live-stderr.js";
import { ProgressDisplay } from "./display.js";
import { setProgressListener } from "./events.js";

export const PROGRESS_MODES = ["auto", "tty", "plain", "none"] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

let display: ProgressDisplay | undefined;

export function startProgress(mode: ProgressMode, stderr: NodeJS.WriteStream = process.stderr): void {
  const resolved = mode === "auto" ? (stderr.isTTY && process.env["TERM"] !== "dumb" ? "tty" : "none") : mode;
  if (resolved === "none") return;
  display = new ProgressDisplay(resolved, stderr);
  setProgressListener(display);
  setLiveDisplay(display);
  // A command that ends with process.exit still leaves no half-drawn lines behind.
  process.once("exit", closeLiveDisplay);
  endBeforeResult();
}

/**
 * A command prints its result on stdout when its work is done, and stdout is often the same terminal:
 * the display ends (its summary written) before the first result line, never drawn over it.
 */
function endBeforeResult(): void {
  const stdout = process.stdout;
  const write = stdout.write;
  stdout.write = function (this: NodeJS.WriteStream, ...args: Parameters<typeof write>): boolean {
    stdout.write = write;
    endProgress();
    return write.apply(this, args);
  } as typeof write;
}

/** The command succeeded: the live lines give way to one summary line. */
export function endProgress(): void {
  setProgressListener(undefined);
  setLiveDisplay(undefined);
  display?.end();
  display = undefined;
}
