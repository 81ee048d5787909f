/**
 * Runs a structure test config against one image: its final filesystem (imagefs/) and its config.
 * Semantics follow container-structure-test's: regexes are searched for anywhere in the text (Go's
 * leading inline flags such as (?s) or (?i) are honoured), paths may use the image's $ENV, a
 * permission string is Go's os.FileMode string of the entry itself (a symlink is "Lrwxrwxrwx").
 */
import type { Entry, Filesystem, Inode } from "../imagefs/filesystem.js";
import type { LayoutImage } from "../imagefs/image.js";
import { readContents } from "../imagefs/read.js";
import { lstatPath, resolvePath } from "../imagefs/resolve.js";
import { OciError } from "../util/errors.js";
import type { FileContentTest, FileExistenceTest, LicenseTest, MetadataTest, StructureConfig } from "./config.js";

export interface CheckResult {
  /** e.g. `fileExistenceTests "shell"`. */
  check: string;
  pass: boolean;
  /** One line per mismatch: what was expected and what was found. */
  failures: string[];
}

const DEBIAN_DOC = "/usr/share/doc";
/**
 * The largest file a content or license check reads. container-structure-test matches its regexes
 * against the whole file as one string, which cannot be streamed for every regex; so a bigger file is
 * not read at all and its check fails with one line saying so (never a pass on content not read).
 */
export const CONTENT_CAP = 32 * 1024 * 1024;
// container-structure-test's list: a copyright file that mentions one of these fails the license test.
const BANNED_LICENSES = ["AGPL", "WTFPL"];
const LICENSE_ALLOWED_PACKAGES = new Set(["libgnutls30"]);

export async function runChecks(image: LayoutImage, fs: Filesystem, configs: StructureConfig[]): Promise<CheckResult[]> {
  const env = envMap(image.config.config?.Env ?? []);
  // Everything whose content a check reads, gathered first so each layer is read once.
  const wanted = new Map<string, Entry | string>();
  const want = (path: string): void => {
    if (wanted.has(path)) return;
    try {
      const found = resolvePath(fs, path, "image");
      const e = found.entry;
      if (e.type !== "file") wanted.set(path, `${found.path} is a ${e.type === "dir" ? "directory" : e.type}`);
      else if (e.inode!.size > CONTENT_CAP) wanted.set(path, `${found.path} is ${e.inode!.size} bytes, over the ${CONTENT_CAP / 1024 / 1024} MiB that content checks read; not checked`);
      else wanted.set(path, e);
    } catch (err) {
      wanted.set(path, (err as Error).message.replace(/^image: /, ""));
    }
  };
  const debianPackages = debianDocDirs(fs);
  for (const c of configs) {
    for (const t of c.fileContentTests) want(expand(t.path, env));
    for (const t of c.licenseTests) {
      for (const f of t.files) want(f);
      if (t.debian) for (const p of debianPackages) want(`${DEBIAN_DOC}/${p}/copyright`);
    }
  }
  const inodes = [...wanted.values()].filter((v): v is Entry => typeof v !== "string").map((e) => e.inode!);
  const contents = await readContents(image, inodes);
  const text = (path: string): { text: string } | { error: string } => {
    const w = wanted.get(path)!;
    return typeof w === "string" ? { error: w } : { text: contents.get(w.inode as Inode)!.toString("utf8") };
  };

  const results: CheckResult[] = [];
  for (const c of configs) {
    for (const t of c.fileExistenceTests) results.push(fileExistence(fs, t, env));
    for (const t of c.fileContentTests) results.push(fileContent(t, text(expand(t.path, env))));
    if (c.metadataTest !== undefined) results.push(metadata(image, c.metadataTest, env));
    for (const [i, t] of c.licenseTests.entries()) results.push(license(i, t, debianPackages, text));
  }
  return results;
}

function result(check: string, failures: string[]): CheckResult {
  return { check, pass: failures.length === 0, failures };
}

function fileExistence(fs: Filesystem, t: FileExistenceTest, env: Map<string, string>): CheckResult {
  const check = `fileExistenceTests ${JSON.stringify(t.name)} (${t.path})`;
  const path = expand(t.path, env);
  let entry: Entry | undefined;
  try {
    entry = lstatPath(fs, path, "image").entry; // the entry itself: a symlink is checked as a symlink
  } catch {
    entry = undefined;
  }
  if (!t.shouldExist) return result(check, entry === undefined ? [] : [`expected ${path} not to exist, found ${describe(entry)}`]);
  if (entry === undefined) return result(check, [`expected ${path} to exist, found nothing there`]);
  const failures: string[] = [];
  const perms = goFileMode(entry);
  if (t.permissions !== undefined && t.permissions !== perms) failures.push(`expected permissions ${t.permissions}, found ${perms}`);
  if (t.uid !== undefined && t.uid !== entry.uid) failures.push(`expected uid ${t.uid}, found ${entry.uid}`);
  if (t.gid !== undefined && t.gid !== entry.gid) failures.push(`expected gid ${t.gid}, found ${entry.gid}`);
  if (t.isExecutableBy !== undefined) {
    const bits = { any: 0o111, owner: 0o100, group: 0o010, other: 0o001 }[t.isExecutableBy];
    if ((entry.mode & bits) === 0) failures.push(`expected executable by ${t.isExecutableBy}, found ${perms}`);
  }
  return result(check, failures);
}

function fileContent(t: FileContentTest, got: { text: string } | { error: string }): CheckResult {
  const check = `fileContentTests ${JSON.stringify(t.name)} (${t.path})`;
  if ("error" in got) return result(check, [`expected a file to read, found: ${got.error}`]);
  const failures: string[] = [];
  for (const re of t.expectedContents) if (!goRegex(re).test(got.text)) failures.push(`expected content matching /${re}/, found ${excerpt(got.text)}`);
  for (const re of t.excludedContents) if (goRegex(re).test(got.text)) failures.push(`expected no content matching /${re}/, found ${excerpt(got.text)}`);
  return result(check, failures);
}

function metadata(image: LayoutImage, t: MetadataTest, env: Map<string, string>): CheckResult {
  const c = image.config.config ?? {};
  const failures: string[] = [];
  const labels = new Map(Object.entries(c.Labels ?? {}));
  const pairs = (what: string, want: MetadataTest["env"], have: Map<string, string>): void => {
    for (const p of want ?? []) {
      const v = have.get(p.key);
      if (v === undefined) failures.push(`expected ${what} ${p.key}, found none`);
      else if (p.isRegex ? !goRegex(p.value).test(v) : v !== p.value) {
        failures.push(`expected ${what} ${p.key}${p.isRegex ? ` matching /${p.value}/` : `=${JSON.stringify(p.value)}`}, found ${JSON.stringify(v)}`);
      }
    }
  };
  pairs("env", [...(t.env ?? []), ...(t.envVars ?? [])], env);
  pairs("label", t.labels, labels);
  const list = (a: readonly string[] | null | undefined): string => JSON.stringify(a ?? []);
  if (t.entrypoint !== undefined && list(t.entrypoint) !== list(c.Entrypoint)) failures.push(`expected entrypoint ${list(t.entrypoint)}, found ${list(c.Entrypoint)}`);
  if (t.cmd !== undefined && list(t.cmd) !== list(c.Cmd)) failures.push(`expected cmd ${list(t.cmd)}, found ${list(c.Cmd)}`);
  if (t.workdir !== undefined && t.workdir !== (c.WorkingDir ?? "")) failures.push(`expected workdir ${JSON.stringify(t.workdir)}, found ${JSON.stringify(c.WorkingDir ?? "")}`);
  if (t.user !== undefined && t.user !== (c.User ?? "")) failures.push(`expected user ${JSON.stringify(t.user)}, found ${JSON.stringify(c.User ?? "")}`);
  const ports = Object.keys(c.ExposedPorts ?? {});
  const exposed = (p: string): boolean => ports.some((k) => k === p || k.split("/")[0] === p);
  for (const p of t.exposedPorts ?? []) if (!exposed(p)) failures.push(`expected port ${p} exposed, found ${list(ports)}`);
  for (const p of t.unexposedPorts ?? []) if (exposed(p)) failures.push(`expected port ${p} not exposed, found ${list(ports)}`);
  const volumes = Object.keys(c.Volumes ?? {});
  for (const v of t.volumes ?? []) if (!volumes.includes(v)) failures.push(`expected volume ${v}, found ${list(volumes)}`);
  for (const v of t.unmountedVolumes ?? []) if (volumes.includes(v)) failures.push(`expected no volume ${v}, found ${list(volumes)}`);
  return result("metadataTest", failures);
}

function license(i: number, t: LicenseTest, packages: string[], text: (p: string) => { text: string } | { error: string }): CheckResult {
  const failures: string[] = [];
  const checkFile = (path: string): void => {
    const got = text(path);
    if ("error" in got) {
      failures.push(`expected a license file at ${path}, found: ${got.error}`);
      return;
    }
    const upper = got.text.toUpperCase();
    for (const banned of BANNED_LICENSES) if (upper.includes(banned)) failures.push(`expected no ${banned} license in ${path}, found one`);
  };
  if (t.debian) {
    if (packages.length === 0) failures.push(`expected Debian package docs in ${DEBIAN_DOC}, found none`);
    for (const p of packages) if (!LICENSE_ALLOWED_PACKAGES.has(p)) checkFile(`${DEBIAN_DOC}/${p}/copyright`);
  }
  for (const f of t.files) checkFile(f);
  return result(`licenseTests[${i}]`, failures);
}

/** The package directories in /usr/share/doc (symlinked ones are another package's docs: skipped). */
function debianDocDirs(fs: Filesystem): string[] {
  const doc = fs.lookup(DEBIAN_DOC);
  if (doc?.type !== "dir") return [];
  return [...doc.children!].filter(([, e]) => e.type === "dir").map(([name]) => name).sort();
}

function describe(e: Entry): string {
  return `a ${e.type === "dir" ? "directory" : e.type} (${goFileMode(e)})`;
}

function excerpt(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

/** Go's os.FileMode.String() of an entry: type and special-bit letters ("dalTLDpSugct?" order), then rwx. */
export function goFileMode(e: Entry): string {
  let prefix = "";
  if (e.type === "dir") prefix += "d";
  if (e.type === "symlink") prefix += "L";
  if (e.type === "char" || e.type === "block") prefix += "D";
  if (e.type === "fifo") prefix += "p";
  if (e.mode & 0o4000) prefix += "u";
  if (e.mode & 0o2000) prefix += "g";
  if (e.type === "char") prefix += "c";
  if (e.mode & 0o1000) prefix += "t";
  const rwx = "rwxrwxrwx";
  let perm = "";
  for (let i = 0; i < 9; i++) perm += e.mode & (1 << (8 - i)) ? rwx[i] : "-";
  return (prefix || "-") + perm;
}

/** A Go (RE2) regex as a JavaScript one: leading inline flags become flags; searched anywhere. */
export function goRegex(source: string): RegExp {
  const m = /^\(\?([imsU]+)\)/.exec(source);
  const flags = m ? [...new Set(m[1]!.replace("U", ""))].join("") : "";
  try {
    return new RegExp(m ? source.slice(m[0].length) : source, flags);
  } catch (err) {
    throw new OciError(`invalid regular expression /${source}/: ${(err as Error).message}`);
  }
}

function envMap(env: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of env) {
    const eq = kv.indexOf("=");
    if (eq > 0) m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return m;
}

/** $VAR and ${VAR} from the image's environment, as container-structure-test expands paths. */
function expand(path: string, env: Map<string, string>): string {
  return path.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a: string | undefined, b: string | undefined) => env.get((a ?? b)!) ?? "");
}
