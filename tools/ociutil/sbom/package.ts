/**
 * An installed OS package as the SBOM lists it, and its package URL (purl). The purl rules followed
 * (package-url/purl-spec, types deb and apk): the namespace is the vendor ("debian", "alpine"),
 * namespace and name are lowercased, the version is the package manager's own string, `arch` is a
 * qualifier; each component is percent-encoded except A-Z a-z 0-9 . - _ ~ and the colon, which the
 * spec says is never encoded (so a Debian epoch reads "1:2.3"). "+" is encoded ("%2B").
 */

export type PackageType = "deb" | "apk";

export interface Package {
  readonly type: PackageType;
  readonly name: string;
  readonly version: string;
  /** The architecture the database names ("amd64", "all", "x86_64"), or undefined if it names none. */
  readonly arch: string | undefined;
  /** The database file the package was read from, e.g. /var/lib/dpkg/status. */
  readonly database: string;
}

const VENDOR: Record<PackageType, string> = { deb: "debian", apk: "alpine" };

export function purlOf(p: Package): string {
  const q = p.arch === undefined ? "" : `?arch=${encode(p.arch)}`;
  return `pkg:${p.type}/${VENDOR[p.type]}/${encode(p.name.toLowerCase())}@${encode(p.version)}${q}`;
}

function encode(s: string): string {
  return Array.from(Buffer.from(s, "utf8"))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9.\-_~:]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

/** One order for every run: by type, name, architecture and version, each compared as bytes. */
export function comparePackages(a: Package, b: Package): number {
  for (const [x, y] of [
    [a.type, b.type],
    [a.name, b.name],
    [a.arch ?? "", b.arch ?? ""],
    [a.version, b.version],
  ] as const) {
    const c = Buffer.compare(Buffer.from(x), Buffer.from(y));
    if (c !== 0) return c;
  }
  return 0;
}
