/**
 * Splits a file's content into lines as its chunks arrive, counting them, so a package database is
 * parsed while it streams out of its layer and an error can name the line. A line longer than
 * MAX_LINE is an error rather than a buffer that grows with the input.
 */
import { StringDecoder } from "node:string_decoder";
import { OciError } from "../util/errors.js";

export const MAX_LINE = 1 << 20;

/** A malformed package database: the message names the file and the line. */
export class DatabaseError extends OciError {
  override readonly name = "DatabaseError";
}

export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";
  private lineNo = 0;

  /** `onLine(line, number)` is called for each complete line (1-based numbers, no "\n"). */
  constructor(
    private readonly file: string,
    private readonly onLine: (line: string, lineNo: number) => void,
  ) {}

  write(chunk: Buffer): void {
    const text = this.pending + this.decoder.write(chunk);
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf("\n", start)) >= 0) {
      this.onLine(text.slice(start, nl).replace(/\r$/, ""), ++this.lineNo);
      start = nl + 1;
    }
    this.pending = text.slice(start);
    if (this.pending.length > MAX_LINE) throw new DatabaseError(`${this.file}:${this.lineNo + 1}: line longer than ${MAX_LINE} characters`);
  }

  /** Flushes a last line without "\n"; returns the number of the line after the last. */
  end(): number {
    const rest = this.pending + this.decoder.end();
    this.pending = "";
    if (rest.length > 0) this.onLine(rest.replace(/\r$/, ""), ++this.lineNo);
    return this.lineNo + 1;
  }
}
