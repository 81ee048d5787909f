/**
 * apk's database, /lib/apk/db/installed: one block of "X:value" lines per installed package (P name,
 * V version, A architecture, and many more the SBOM does not need), blocks separated by blank lines.
 */
import { DatabaseError } from "./lines.js";
import type { Package } from "./package.js";

const LINE = /^([A-Za-z]):(.*)$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const VERSION = /^[0-9][A-Za-z0-9._+~-]*$/;
const ARCH = /^[a-z0-9_]+$/;

export class ApkParser {
  private fields = new Map<string, { value: string; line: number }>();
  private start = 0;
  readonly packages: Package[] = [];

  constructor(
    private readonly database: string,
    private readonly where: string,
  ) {}

  line(text: string, no: number): void {
    if (text.trim() === "") return this.endBlock();
    const m = LINE.exec(text);
    if (m === null) throw this.error(no, `expected "X:value", got ${JSON.stringify(text.slice(0, 60))}`);
    if (this.fields.size === 0) this.start = no;
    const key = m[1]!;
    if (key === "P" || key === "V" || key === "A") {
      if (this.fields.has(key)) throw this.error(no, `${key}: appears twice in one package`);
      this.fields.set(key, { value: m[2]!, line: no });
    } else if (!this.fields.has("")) {
      this.fields.set("", { value: "", line: no }); // a block of other fields only still needs P: and V:
    }
  }

  end(): Package[] {
    this.endBlock();
    return this.packages;
  }

  private endBlock(): void {
    if (this.fields.size === 0) return;
    const f = this.fields;
    this.fields = new Map();
    const name = this.required(f, "P", "name", NAME);
    const version = this.required(f, "V", "version", VERSION);
    const a = f.get("A");
    if (a !== undefined && !ARCH.test(a.value)) throw this.error(a.line, `A: ${JSON.stringify(a.value)} is not a valid architecture`);
    this.packages.push({ type: "apk", name, version, arch: a?.value, database: this.database });
  }

  private required(f: Map<string, { value: string; line: number }>, key: string, what: string, re: RegExp): string {
    const field = f.get(key);
    if (field === undefined) throw this.error(this.start, `package has no ${key}: (${what}) line`);
    if (!re.test(field.value)) throw this.error(field.line, `${key}: ${JSON.stringify(field.value)} is not a valid apk ${what}`);
    return field.value;
  }

  private error(line: number, what: string): DatabaseError {
    return new DatabaseError(`${this.where}:${line}: ${what}`);
  }
}
