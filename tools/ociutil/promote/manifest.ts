/**
 * Promoter manifests, read the way kpromo reads them: `registries` (name, src, service-account) and
 * `images` (name, dmap of digest to tags). Strict: an unknown key, a duplicate key or a value of the
 * wrong shape is a problem. Nothing stops at the first problem: every one is collected with its file,
 * line and field, so a reviewer sees the whole list at once.
 *
 * YAML is read with the failsafe schema (every scalar a string) and converted here, as Go's yaml.v2
 * does for string fields: an unquoted tag `1.10` stays "1.10", never the number 1.1. A long `images`
 * list is parsed a slice of items at a time (yaml-items.ts): memory for the YAML document then does
 * not grow with the manifest.
 */
import { readFile } from "node:fs/promises";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Scalar, type YAMLMap } from "yaml";
import { sliceSequence, type SequenceSlices } from "./yaml-items.js";

export interface Location {
  file: string;
  line: number;
}

export interface Problem extends Location {
  /** Where in the document: `registries[1].name`, `images[0].dmap["sha256:…"][2]`. */
  field: string;
  message: string;
}

export interface RegistryEntry {
  /** Registry host plus an optional path prefix: `registry.example/prod`. */
  name: string;
  src: boolean;
  serviceAccount?: string;
  at: Location;
  /** Where `src` is set (else the entry). */
  srcAt: Location;
  field: string;
}

export interface TagEntry {
  tag: string;
  at: Location;
  field: string;
}

export interface DigestEntry {
  digest: string;
  /** Empty: a tagless promotion (the digest alone). */
  tags: TagEntry[];
  at: Location;
  field: string;
}

export interface ImageEntry {
  name: string;
  dmap: DigestEntry[];
  at: Location;
  field: string;
}

/** One promoter manifest: a plain file, or a thin pair (registries in one file, images in another). */
export interface PromoterManifest {
  /** The file that names the registries. */
  file: string;
  registries: RegistryEntry[];
  images: ImageEntry[];
  /** Where `registries` begins (for problems about the list as a whole). */
  registriesAt: Location;
  /** Set for a thin manifest: its images.yaml. */
  imagesFile?: string;
  /** Keys accepted for compatibility that do nothing here (`service-account`, `imagesPath`). */
  unused: Problem[];
}

/** A YAML document being read: its file name, lines and the problems found so far. */
class Reader {
  readonly lines = new LineCounter();
  constructor(
    readonly file: string,
    readonly problems: Problem[],
    /** Lines of the file before the text parsed (a slice of a long list). */
    readonly linesBefore = 0,
  ) {}

  at(node: Node | null | undefined): Location {
    const offset = node?.range?.[0] ?? 0;
    return { file: this.file, line: this.lines.linePos(offset).line + this.linesBefore };
  }

  problem(node: Node | null | undefined, field: string, message: string): void {
    this.problems.push({ ...this.at(node), field, message });
  }

  parse(text: string): Document.Parsed {
    const doc = parseDocument(text, { schema: "failsafe", lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    for (const err of [...doc.errors, ...doc.warnings]) {
      const line = this.lines.linePos(err.pos[0]).line + this.linesBefore;
      const what = err.code === "DUPLICATE_KEY" ? `duplicate key ${JSON.stringify(keyAt(text, err.pos[0]))}` : err.message.split("\n")[0]!;
      this.problems.push({ file: this.file, line, field: "(yaml)", message: what });
    }
    return doc;
  }
}

function keyAt(text: string, offset: number): string {
  const rest = text.slice(offset);
  const m = /^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^\n]*?(?=:\s|:$))/m.exec(rest);
  return (m?.[1] ?? "").trim().replace(/^["']|["']$/g, "");
}

/** True for YAML's null spellings (an empty value, `~`, `null`), unquoted. */
function isNull(node: Node | null | undefined): boolean {
  if (node === null || node === undefined) return true;
  if (!isScalar(node)) return false;
  return node.type === "PLAIN" && ["", "~", "null", "Null", "NULL"].includes(String(node.value));
}

function resolve(doc: Document.Parsed, node: unknown): Node | null {
  if (isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? null;
  return (node as Node | null) ?? null;
}

function scalarText(node: Node | null): string | undefined {
  return isScalar(node) && typeof node.value === "string" ? node.value : undefined;
}

/** The pairs of a mapping with string keys; unknown keys are problems. */
function fields(r: Reader, doc: Document.Parsed, map: YAMLMap, field: string, known: readonly string[]): Map<string, Node | null> {
  const out = new Map<string, Node | null>();
  for (const pair of map.items) {
    const keyNode = resolve(doc, pair.key);
    const key = scalarText(keyNode);
    if (key === undefined) {
      r.problem(keyNode, field, "a key that is not a string");
      continue;
    }
    if (!known.includes(key)) {
      r.problem(keyNode, field, `unknown key "${key}" (allowed: ${known.join(", ")})`);
      continue;
    }
    if (!out.has(key)) out.set(key, resolve(doc, pair.value));
  }
  return out;
}

function readString(r: Reader, node: Node | null, field: string): string | undefined {
  if (isNull(node)) return "";
  const s = scalarText(node);
  if (s === undefined) r.problem(node, field, "must be a string");
  return s;
}

function readRegistries(r: Reader, doc: Document.Parsed, node: Node | null, field: string, unused: Problem[]): RegistryEntry[] {
  if (isNull(node)) return [];
  if (!isSeq(node)) {
    r.problem(node, field, "must be a list of registries");
    return [];
  }
  const out: RegistryEntry[] = [];
  node.items.forEach((raw, i) => {
    const item = resolve(doc, raw);
    const f = `${field}[${i}]`;
    if (!isMap(item)) {
      r.problem(item, f, "must be a mapping with name, src, service-account");
      return;
    }
    const kv = fields(r, doc, item, f, ["name", "src", "service-account"]);
    const name = readString(r, kv.get("name") ?? null, `${f}.name`) ?? "";
    let src = false;
    const srcNode = kv.get("src");
    if (srcNode !== undefined && !isNull(srcNode)) {
      const s = scalarText(srcNode);
      if (s !== undefined && /^(true|True|TRUE)$/.test(s)) src = true;
      else if (s === undefined || !/^(false|False|FALSE)$/.test(s)) r.problem(srcNode, `${f}.src`, `must be true or false, got ${JSON.stringify(s ?? "a collection")}`);
    }
    const entry: RegistryEntry = { name, src, at: r.at(item), srcAt: r.at(srcNode ?? item), field: f };
    const saNode = kv.get("service-account");
    if (saNode !== undefined) {
      const sa = readString(r, saNode, `${f}.service-account`);
      if (sa !== undefined && sa !== "") {
        entry.serviceAccount = sa;
        unused.push({ ...r.at(saNode), field: `${f}.service-account`, message: "ignored: credentials come from the docker config chain" });
      }
    }
    out.push(entry);
  });
  return out;
}

function readImages(r: Reader, doc: Document.Parsed, node: Node | null, field: string, itemsBefore = 0): ImageEntry[] {
  if (isNull(node)) return [];
  if (!isSeq(node)) {
    r.problem(node, field, "must be a list of images");
    return [];
  }
  const out: ImageEntry[] = [];
  node.items.forEach((raw, i) => {
    const item = resolve(doc, raw);
    const f = `${field}[${itemsBefore + i}]`;
    if (!isMap(item)) {
      r.problem(item, f, "must be a mapping with name and dmap");
      return;
    }
    const kv = fields(r, doc, item, f, ["name", "dmap"]);
    const name = readString(r, kv.get("name") ?? null, `${f}.name`) ?? "";
    out.push({ name, dmap: readDmap(r, doc, kv.get("dmap") ?? null, `${f}.dmap`), at: r.at(item), field: f });
  });
  return out;
}

function readDmap(r: Reader, doc: Document.Parsed, node: Node | null, field: string): DigestEntry[] {
  if (isNull(node)) return []; // `dmap:` with nothing under it: real manifests have these
  if (!isMap(node)) {
    r.problem(node, field, "must be a mapping of digest to a list of tags");
    return [];
  }
  const out: DigestEntry[] = [];
  for (const pair of node.items) {
    const keyNode = resolve(doc, pair.key);
    const digest = scalarText(keyNode);
    if (digest === undefined) {
      r.problem(keyNode, field, "a digest key that is not a string");
      continue;
    }
    const entry = new DmapEntry(digest, r.at(keyNode), field);
    const f = entry.field;
    const value = resolve(doc, pair.value);
    const tags = entry.tags;
    if (!isNull(value)) {
      if (!isSeq(value)) {
        r.problem(value, f, "must be a list of tags ([] for none)");
      } else {
        value.items.forEach((rawTag, j) => {
          const t = resolve(doc, rawTag);
          const tag = scalarText(t);
          if (tag === undefined) r.problem(t, `${f}[${j}]`, "a tag must be a string");
          else tags.push(new DmapTag(tag, r.at(t), entry, j));
        });
      }
    }
    out.push(entry);
  }
  return out;
}

/**
 * Digests and tags make their field names (`images[3].dmap["sha256:…"][0]`) only when a problem
 * needs one: kept for each of 200,000 images they were a third of the parsed manifest's memory.
 */
class DmapEntry implements DigestEntry {
  readonly tags: TagEntry[] = [];
  constructor(
    readonly digest: string,
    readonly at: Location,
    private readonly dmapField: string,
  ) {}
  get field(): string {
    return `${this.dmapField}[${JSON.stringify(this.digest)}]`;
  }
}

class DmapTag implements TagEntry {
  constructor(
    readonly tag: string,
    readonly at: Location,
    private readonly entry: DmapEntry,
    private readonly index: number,
  ) {}
  get field(): string {
    return `${this.entry.field}[${this.index}]`;
  }
}

/** The images of a sliced sequence, read a slice at a time: only one slice's YAML document is alive at once. */
function readImageSlices(file: string, text: string, s: SequenceSlices, problems: Problem[]): ImageEntry[] {
  const out: ImageEntry[] = [];
  let line = 0;
  let counted = 0;
  for (let i = 0; i < s.slices.length; i++) {
    const from = s.slices[i]!;
    for (let at = text.indexOf("\n", counted); at >= 0 && at < from; at = text.indexOf("\n", at + 1)) line++;
    counted = from;
    const r = new Reader(file, problems, line);
    const doc = r.parse(text.slice(from, s.slices[i + 1] ?? s.end));
    for (const image of readImages(r, doc, doc.contents, "images", s.itemsBefore[i])) out.push(image);
  }
  return out;
}

/** `text` with the lines from `start` to `end` emptied: the rest parses alone, on the same lines. */
function without(text: string, start: number, end: number): string {
  return text.slice(0, start) + "\n".repeat(countLines(text, start, end)) + text.slice(end);
}

function countLines(text: string, start: number, end: number): number {
  let n = 0;
  for (let at = text.indexOf("\n", start); at >= 0 && at < end; at = text.indexOf("\n", at + 1)) n++;
  return n;
}

async function readText(file: string, problems: Problem[]): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push({ file, line: 0, field: "(file)", message: code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? String(err)})` });
    return undefined;
  }
}

/** A plain manifest: `registries` and `images` in one file. */
export async function readPlainManifest(file: string, problems: Problem[]): Promise<PromoterManifest | undefined> {
  const text = await readText(file, problems);
  if (text === undefined) return undefined;
  // The `images:` list, when it is a plain block sequence, is read apart, a slice at a time.
  const key = /^images:[ ]*(#.*)?\r?$/m.exec(text);
  const slices = key !== null ? sliceSequence(text, text.indexOf("\n", key.index) + 1) : undefined;
  const r = new Reader(file, problems);
  const doc = r.parse(slices !== undefined ? without(text, slices.start, slices.end) : text);
  const m: PromoterManifest = { file, registries: [], images: [], registriesAt: { file, line: 1 }, unused: [] };
  const root = doc.contents;
  if (isNull(root)) return m;
  if (!isMap(root)) {
    r.problem(root, "(root)", "a promoter manifest must be a mapping with registries and images");
    return m;
  }
  const kv = fields(r, doc, root, "(root)", ["registries", "images"]);
  m.registriesAt = r.at(kv.get("registries") ?? root);
  m.registries = readRegistries(r, doc, kv.get("registries") ?? null, "registries", m.unused);
  m.images = slices !== undefined ? readImageSlices(file, text, slices, problems) : readImages(r, doc, kv.get("images") ?? null, "images");
  return m;
}

/**
 * A thin manifest: `registries` (and the deprecated `imagesPath`, accepted and ignored) in
 * promoter-manifest.yaml, and a bare list of images in images.yaml.
 */
export async function readThinManifest(file: string, imagesFile: string, problems: Problem[]): Promise<PromoterManifest | undefined> {
  const text = await readText(file, problems);
  const imagesText = await readText(imagesFile, problems);
  if (text === undefined) return undefined;
  const r = new Reader(file, problems);
  const doc = r.parse(text);
  const m: PromoterManifest = { file, imagesFile, registries: [], images: [], registriesAt: { file, line: 1 }, unused: [] };
  const root = doc.contents;
  if (isMap(root)) {
    const kv = fields(r, doc, root, "(root)", ["registries", "imagesPath"]);
    m.registriesAt = r.at(kv.get("registries") ?? root);
    m.registries = readRegistries(r, doc, kv.get("registries") ?? null, "registries", m.unused);
    const imagesPath = kv.get("imagesPath");
    if (imagesPath !== undefined) {
      readString(r, imagesPath, "imagesPath");
      m.unused.push({ ...r.at(imagesPath), field: "imagesPath", message: "deprecated and ignored: images are read from the images/ directory" });
    }
  } else if (!isNull(root)) {
    r.problem(root, "(root)", "a thin promoter manifest must be a mapping with registries");
  }
  if (imagesText !== undefined) {
    const slices = sliceSequence(imagesText, 0);
    // A bare list with only comments around it: anything else is parsed whole, as YAML says.
    const around = `${imagesText.slice(0, slices?.start ?? 0)}\n${imagesText.slice(slices?.end ?? 0)}`;
    if (slices !== undefined && around.split("\n").every((l) => l.trim() === "" || l.trim().startsWith("#"))) {
      m.images = readImageSlices(imagesFile, imagesText, slices, problems);
    } else {
      const ri = new Reader(imagesFile, problems);
      const idoc = ri.parse(imagesText);
      m.images = readImages(ri, idoc, idoc.contents, "images");
    }
  }
  return m;
}
