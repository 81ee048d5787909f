/**
 * dpkg's database: /var/lib/dpkg/status, and distroless's /var/lib/dpkg/status.d/NAME files (one
 * package's control paragraph each, without a Status field). Both are deb822: paragraphs separated by
 * blank lines, "Field: value" lines, continuation lines that start with a space or tab. Only the
 * fields the SBOM needs are kept, so memory does not grow with the descriptions.
 *
 * A package is listed when it is installed: its Status (want flag state) has the state "installed",
 * "triggers-awaited" or "triggers-pending" (unpacked and configured); a paragraph without Status
 * (status.d) is an installed package. Entries dpkg only remembers (config-files, not-installed) and
 * half-done installs are left out.
 */
import { DatabaseError } from "./lines.js";
import type { Package } from "./package.js";

const INSTALLED = new Set(["installed", "triggers-awaited", "triggers-pending"]);
const KEEP = new Set(["package", "version", "architecture", "status"]);
const FIELD = /^([!-9;-~][!-9;-~]*):(.*)$/;
// Debian policy 5.6.1 / 5.6.12; dpkg accepts upper case in names from old databases, so it is allowed.
const NAME = /^[A-Za-z0-9][A-Za-z0-9+.-]+$/;
const VERSION = /^(\d+:)?[A-Za-z0-9][A-Za-z0-9.+~:-]*$/;
const ARCH = /^[a-z0-9][a-z0-9-]*$/;

export class DpkgParser {
  private fields = new Map<string, { value: string; line: number }>();
  private start = 0;
  private last: string | undefined;
  readonly packages: Package[] = [];

  /** `database` is the path in the image, `where` the same path as messages print it. */
  constructor(
    private readonly database: string,
    private readonly where: string,
    private readonly hasStatus: boolean,
  ) {}

  line(text: string, no: number): void {
    if (text.trim() === "") return this.endParagraph();
    if (text.startsWith(" ") || text.startsWith("\t")) {
      if (this.last === undefined) throw this.error(no, "a continuation line outside a field");
      return; // kept fields are one line long; a description's further lines are not needed
    }
    const m = FIELD.exec(text);
    if (m === null) throw this.error(no, `expected "Field: value", got ${JSON.stringify(text.slice(0, 60))}`);
    const key = m[1]!.toLowerCase();
    if (this.fields.size === 0 && this.last === undefined) this.start = no;
    if (KEEP.has(key) && this.fields.has(key)) throw this.error(no, `field ${m[1]} appears twice in one package`);
    this.last = key;
    if (KEEP.has(key)) this.fields.set(key, { value: m[2]!.trim(), line: no });
  }

  end(): Package[] {
    this.endParagraph();
    return this.packages;
  }

  private endParagraph(): void {
    if (this.last === undefined) return;
    const f = this.fields;
    this.fields = new Map();
    this.last = undefined;
    const status = f.get("status");
    if (status !== undefined) {
      const words = status.value.split(/\s+/);
      if (words.length !== 3) throw this.error(status.line, `Status must be "want flag state", got ${JSON.stringify(status.value)}`);
      if (!INSTALLED.has(words[2]!)) return;
    } else if (this.hasStatus) {
      throw this.error(this.start, "package has no Status field");
    }
    const name = this.required(f, "package", NAME);
    const version = this.required(f, "version", VERSION);
    const arch = this.required(f, "architecture", ARCH);
    this.packages.push({ type: "deb", name, version, arch, database: this.database });
  }

  private required(f: Map<string, { value: string; line: number }>, key: string, re: RegExp): string {
    const field = f.get(key);
    const label = key[0]!.toUpperCase() + key.slice(1);
    if (field === undefined) throw this.error(this.start, `package has no ${label} field`);
    if (!re.test(field.value)) throw this.error(field.line, `${label} ${JSON.stringify(field.value)} is not a valid Debian ${key}`);
    return field.value;
  }

  private error(line: number, what: string): DatabaseError {
    return new DatabaseError(`${this.where}:${line}: ${what}`);
  }
}
