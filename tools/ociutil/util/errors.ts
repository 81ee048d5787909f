/**
 * Errors that end a command with one line on stderr. `UsageError` exits 2 (a malformed command line),
 * every other `OciError` exits 1. Anything else is a bug and is reported with its stack.
 */
export class OciError extends Error {
  override readonly name: string = "OciError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class UsageError extends OciError {
  override readonly name: string = "UsageError";
}

/** Raised when bytes do not match the digest or size that named them. */
export class VerificationError extends OciError {
  override readonly name: string = "VerificationError";
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
