/**
 * Runs a command action and turns its failure into one line on stderr: exit 1 for an OciError (bad
 * input, a registry that said no, content that did not verify), exit 2 for a usage error.
 */
import { OciError, UsageError } from "../util/errors.js";
import { ExitRequest, exit } from "./exit.js";
import { closeLiveDisplay } from "../util/live-stderr.js";

export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof ExitRequest) throw err;
      fail(err);
    }
  };
}

export function fail(err: unknown): never {
  closeLiveDisplay(); // whatever progress was drawn, the error is the last line
  if (err instanceof UsageError) {
    process.stderr.write(`ociutil: ${oneLine(err.message)}\n`);
    exit(2);
  }
  if (err instanceof OciError) {
    process.stderr.write(`ociutil: ${oneLine(err.message)}\n`);
    exit(1);
  }
  // Node's own errors for ordinary conditions (a path that does not exist) are still one line.
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    process.stderr.write(`ociutil: ${oneLine((err as Error).message)}\n`);
    exit(1);
  }
  process.stderr.write(`ociutil: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  exit(1);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ");
}
