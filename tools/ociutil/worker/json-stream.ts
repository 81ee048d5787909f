/**
 * Bazel's JSON worker protocol sends WorkRequests as JSON objects one after another on stdin (in
 * practice one a line, but nothing promises the newline). This splits the byte stream into whole
 * objects by counting braces outside strings, so a request split across reads or two in one read
 * both parse.
 */
export class JsonObjectSplitter {
  private text = "";
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;

  /** Adds received text; returns the objects it completed, unparsed. */
  push(chunk: string): string[] {
    this.text += chunk;
    const done: string[] = [];
    let consumed = 0;
    for (let i = this.scanned; i < this.text.length; i++) {
      const c = this.text[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === "\\") this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === "{") {
        if (this.depth++ === 0) this.start = i;
      } else if (c === "}") {
        if (this.depth === 0) throw new Error("a '}' outside any WorkRequest");
        if (--this.depth === 0) {
          done.push(this.text.slice(this.start, i + 1));
          consumed = i + 1;
        }
      } else if (this.depth === 0 && !/\s/.test(c!)) {
        throw new Error(`${JSON.stringify(c)} outside any WorkRequest`);
      }
    }
    this.text = this.text.slice(consumed);
    this.scanned = this.text.length;
    if (this.depth > 0) this.start -= consumed;
    return done;
  }

  /** True when the stream ended inside an object. */
  get partial(): boolean {
    return this.depth > 0;
  }
}
