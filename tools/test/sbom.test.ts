/**
 * `ociutil sbom`: the packages an image's final filesystem has installed, as SPDX 2.3 and CycloneDX
 * 1.5 JSON. The test image is built here from a real dpkg database (the sid rootfs's, made by
 * debootstrap --variant=minbase), distroless-style status.d files and an Alpine database written here,
 * across layers (one replacing and one deleting a database file). What the SBOM must list is read from
 * the same bytes by dpkg-query itself, not by our parser.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, makeTempDir, mustRun, REPO_ROOT, removeTempDir, runOciutil, runTool, sidRootfs } from "./harness/index.js";
import { cyclonedx15Validator } from "./sbom/cyclonedx-schema.js";
import { Spdx23Document } from "./sbom/spdx-schema.js";

const STATUS = join(sidRootfs(), "var/lib/dpkg/status");

// A package dpkg only remembers (removed, config files kept): in the database, not installed.
const REMOVED = "\nPackage: removed-pkg\nStatus: deinstall ok config-files\nPriority: optional\nVersion: 1.0-1\nArchitecture: amd64\nDescription: gone\n long gone\n";

// distroless writes one control paragraph per package (no Status field) and its md5sums beside it.
const STATUS_D: Record<string, string> = {
  "var/lib/dpkg/status.d/passwd": "Package: passwd\nVersion: 1:4.13+dfsg1-1\nArchitecture: amd64\nMaintainer: Someone <a@b.c>\nDescription: change and administer password and group data\n with a second line\n",
  "var/lib/dpkg/status.d/passwd.md5sums": "d41d8cd98f00b204e9800998ecf8427e  usr/bin/passwd\n",
  "var/lib/dpkg/status.d/tzdata": "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
  "var/lib/dpkg/status.d/deleted-later": "Package: deleted-later\nVersion: 1\nArchitecture: all\n",
};

const apkBlock = (p: string, v: string, a: string): string =>
  `C:Q1abcdefghijklmnopqrstuvwxyz0123=\nP:${p}\nV:${v}\nA:${a}\nS:1000\nI:2000\nT:${p} package\nU:https://example.org/\nL:MIT\no:${p}\nm:Someone <a@b.c>\nt:1710000000\nF:lib\nR:lib${p}.so\na:0:0:755\nZ:Q1zyxwvutsrqponmlkjihgfedcba3210=\n`;
const APK_OLD = apkBlock("musl", "1.2.4-r0", "x86_64");
const APK = `${apkBlock("musl", "1.2.5-r0", "x86_64")}\n${apkBlock("libstdc++", "13.2.1_git20240309-r0", "x86_64")}\n${apkBlock("ca-certificates-bundle", "20240226-r0", "x86_64")}`;

interface Pkg {
  name: string;
  version: string;
  arch: string;
}

let tmp: string;
let layout: string;
let manifestDigest: string;
let expected: Array<Pkg & { purl: string }>;

/** What dpkg-query says is installed, reading the database file the image holds. */
async function dpkgInstalled(status: Buffer): Promise<Pkg[]> {
  const admin = join(tmp, "admindir");
  await mkdir(join(admin, "info"), { recursive: true });
  await mkdir(join(admin, "updates"), { recursive: true });
  await writeFile(join(admin, "status"), status);
  const out = await mustRun("dpkg-query", [`--admindir=${admin}`, "-W", "-f", "${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Status}\\n"]);
  return out.stdout
    .trim()
    .split("\n")
    .map((l) => l.split("\t"))
    .filter((f) => f[3] === "installed")
    .map(([name, version, arch]) => ({ name: name!, version: version!, arch: arch! }));
}

const enc = (s: string): string => s.replace(/\+/g, "%2B");

beforeAll(async () => {
  if (!existsSync(STATUS)) {
    throw new Error(`${STATUS} is missing: the test needs the debootstrap'd sid rootfs (bash .ci/setup-sid-rootfs /var/cache/rules_ociutil/sid-rootfs)`);
  }
  tmp = await makeTempDir("sbom");
  layout = join(tmp, "layout");
  const status = Buffer.concat([await readFile(STATUS), Buffer.from(REMOVED)]);
  const img = await buildTestImage(layout, {
    refName: "v1",
    layers: [
      { files: { "var/lib/dpkg/status": status, "lib/apk/db/installed": APK_OLD, "etc/hostname": "x\n" } },
      { files: { ...STATUS_D, "lib/apk/db/installed": APK } },
      { files: { "var/lib/dpkg/status.d/.wh.deleted-later": "" } },
    ],
  });
  manifestDigest = img.manifestDigest;
  const deb = await dpkgInstalled(status);
  expect(deb.length).toBeGreaterThan(50); // a real minbase database, not an empty one
  expected = [
    ...deb.map((p) => ({ ...p, purl: `pkg:deb/debian/${enc(p.name)}@${enc(p.version)}?arch=${p.arch}` })),
    { name: "passwd", version: "1:4.13+dfsg1-1", arch: "amd64", purl: "pkg:deb/debian/passwd@1:4.13%2Bdfsg1-1?arch=amd64" },
    { name: "tzdata", version: "2024a-0+deb12u1", arch: "all", purl: "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all" },
    { name: "musl", version: "1.2.5-r0", arch: "x86_64", purl: "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64" },
    { name: "libstdc++", version: "13.2.1_git20240309-r0", arch: "x86_64", purl: "pkg:apk/alpine/libstdc%2B%2B@13.2.1_git20240309-r0?arch=x86_64" },
    { name: "ca-certificates-bundle", version: "20240226-r0", arch: "x86_64", purl: "pkg:apk/alpine/ca-certificates-bundle@20240226-r0?arch=x86_64" },
  ].filter((p, i, all) => all.findIndex((q) => q.purl === p.purl) === i);
}, 60_000);
afterAll(async () => removeTempDir(tmp));

const sortKey = (p: { purl: string }): string => p.purl;

describe("ociutil sbom (SPDX 2.3)", () => {
  it("lists exactly the installed packages and versions of the final filesystem, with purls and the image digest", async () => {
    const r = await runOciutil(["sbom", `${layout}:v1`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, any>;
    const image = doc.packages.find((p: any) => p.SPDXID === "SPDXRef-Image");
    expect(image.checksums).toEqual([{ algorithm: "SHA256", checksumValue: manifestDigest.slice(7) }]);
    expect(doc.relationships).toContainEqual({ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: "SPDXRef-Image" });
    const listed = doc.packages
      .filter((p: any) => p.SPDXID !== "SPDXRef-Image")
      .map((p: any) => ({ name: p.name, version: p.versionInfo, purl: p.externalRefs[0].referenceLocator }));
    expect(listed.sort((a: any, b: any) => (sortKey(a) < sortKey(b) ? -1 : 1))).toEqual(
      expected.map(({ name, version, purl }) => ({ name, version, purl })).sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1)),
    );
    // Each package is CONTAINed by the image.
    expect(doc.relationships.filter((x: any) => x.relationshipType === "CONTAINS")).toHaveLength(expected.length);
  });

  it("validates as an SPDX 2.3 document (a zod schema from the spec: no package ships the official schema file)", async () => {
    const r = await runOciutil(["sbom", `${layout}:v1`]);
    const result = Spdx23Document.safeParse(JSON.parse(r.stdout));
    expect(result.success ? [] : result.error.issues.slice(0, 5)).toEqual([]);
  });

  it("the SPDX project's own validator accepts it (pyspdxtools, Debian's python3-spdx-tools), and rejects a broken one", async () => {
    // pyspdxtools parses the document and validates it against the SPDX 2.3 model (IDs, references,
    // relationships, checksums, purls). It is a Python program of the sid rootfs: run there.
    const rootfs = sidRootfs();
    if (!existsSync(join(rootfs, "usr", "bin", "pyspdxtools"))) {
      throw new Error(`pyspdxtools is missing from ${rootfs}: install it with: bash .ci/setup-sid-rootfs ${rootfs}`);
    }
    const r = await runOciutil(["sbom", `${layout}:v1`]);
    const good = `/tmp/ociutil-sbom-${process.pid}.spdx.json`;
    const bad = `/tmp/ociutil-sbom-${process.pid}-bad.spdx.json`;
    const broken = JSON.parse(r.stdout) as { packages: Array<{ SPDXID: string }> };
    broken.packages[0]!.SPDXID = "not an SPDX id";
    await writeFile(join(rootfs, good), r.stdout);
    await writeFile(join(rootfs, bad), JSON.stringify(broken));
    try {
      const ok = await runTool("chroot", [rootfs, "pyspdxtools", "-i", good]);
      expect(ok.code, ok.stderr).toBe(0);
      const no = await runTool("chroot", [rootfs, "pyspdxtools", "-i", bad]);
      expect(no.code).not.toBe(0);
      expect(no.stderr).toContain("The document is invalid");
    } finally {
      await rm(join(rootfs, good), { force: true });
      await rm(join(rootfs, bad), { force: true });
    }
  });

  it("gives the same bytes for the same image, with no timestamp unless --created asks for one", async () => {
    const copy = join(tmp, "copy");
    await mkdir(copy);
    await mustRun("cp", ["-a", `${layout}/.`, copy]);
    const a = await runOciutil(["sbom", `${layout}:v1`]);
    const b = await runOciutil(["sbom", copy]);
    expect(b.stdout).toBe(a.stdout);
    expect(JSON.parse(a.stdout).creationInfo.created).toBe("1970-01-01T00:00:00Z");
    const c = await runOciutil(["sbom", layout, "--created", "2024-05-01T14:00:00+02:00"]);
    expect(JSON.parse(c.stdout).creationInfo.created).toBe("2024-05-01T12:00:00Z");
    expect(JSON.parse(c.stdout).documentNamespace).not.toBe(JSON.parse(a.stdout).documentNamespace);
  });
});

describe("ociutil sbom --format cyclonedx-json", () => {
  it("validates against the official CycloneDX 1.5 JSON schema and lists the same packages", async () => {
    const out = join(tmp, "bom.cdx.json");
    const r = await runOciutil(["sbom", layout, "--format", "cyclonedx-json", "--output", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${out}: ${expected.length} packages\n`);
    const bom = JSON.parse(await readFile(out, "utf8")) as Record<string, any>;
    const validate = cyclonedx15Validator();
    expect(validate(bom) ? [] : validate.errors?.slice(0, 5)).toEqual([]);
    expect(bom.metadata.component.hashes).toEqual([{ alg: "SHA-256", content: manifestDigest.slice(7) }]);
    expect(bom.metadata.timestamp).toBeUndefined();
    expect(bom.components.map((c: any) => c.purl).sort()).toEqual(expected.map((e) => e.purl).sort());
  });
});

describe("ociutil sbom: bad input", () => {
  async function imageWith(name: string, files: Record<string, string>): Promise<string> {
    const dir = join(tmp, name);
    await buildTestImage(dir, { layers: [{ files }] });
    return dir;
  }

  it("names the file and line of a malformed dpkg database, and leaves no output file", async () => {
    const dir = await imageWith("bad-dpkg", {
      "var/lib/dpkg/status": "Package: pkg-a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\nPackage: pkg-b\nthis is not a field\n",
    });
    const out = join(tmp, "bad.json");
    const r = await runOciutil(["sbom", dir, "-o", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ociutil: ${dir}: /var/lib/dpkg/status:7: expected "Field: value", got "this is not a field"\n`);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(tmp)).filter((f) => f.startsWith("bad.json"))).toEqual([]);
  });

  it("names the line of a bad version, and a package without one", async () => {
    const bad = await imageWith("bad-version", { "var/lib/dpkg/status.d/xx": "Package: xx\nVersion: not a version\nArchitecture: all\n" });
    const r1 = await runOciutil(["sbom", bad]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toBe(`ociutil: ${bad}: /var/lib/dpkg/status.d/xx:2: Version "not a version" is not a valid Debian version\n`);
    const none = await imageWith("no-version", { "lib/apk/db/installed": "P:musl\nA:x86_64\n\nP:zlib\nV:1.3-r0\n" });
    const r2 = await runOciutil(["sbom", none]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toBe(`ociutil: ${none}: /lib/apk/db/installed:1: package has no V: (version) line\n`);
  });

  it("reads a usr-merged /usr/lib/apk/db/installed when /lib/apk/db/installed is absent", async () => {
    const dir = await imageWith("usr-apk", { "usr/lib/apk/db/installed": apkBlock("alpine-baselayout", "3.6.5-r0", "aarch64") });
    const r = await runOciutil(["sbom", dir, "--format", "cyclonedx-json"]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).components).toEqual([
      {
        type: "library",
        "bom-ref": "pkg:apk/alpine/alpine-baselayout@3.6.5-r0?arch=aarch64",
        name: "alpine-baselayout",
        version: "3.6.5-r0",
        purl: "pkg:apk/alpine/alpine-baselayout@3.6.5-r0?arch=aarch64",
        properties: [{ name: "ociutil:database", value: "/usr/lib/apk/db/installed" }],
      },
    ]);
  });

  it("lists no packages for an image without a package database", async () => {
    const dir = await imageWith("no-db", { "app/hello": "hi\n" });
    const r = await runOciutil(["sbom", dir, "--format", "cyclonedx-json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).components).toEqual([]);
  });

  it("refuses an unknown format or --created with a usage error", async () => {
    const r = await runOciutil(["sbom", layout, "--format", "spdx-tag-value"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ociutil: --format must be spdx-json or cyclonedx-json, got "spdx-tag-value"\n');
    const c = await runOciutil(["sbom", layout, "--created", "yesterday"]);
    expect(c.code).toBe(2);
  });
});

describe("docs/cli/sbom.md", () => {
  it("its SPDX excerpt is a package of the test image's SBOM, as shown", async () => {
    const page = await readFile(join(REPO_ROOT, "docs", "cli", "sbom.md"), "utf8");
    const m = /An excerpt[^\n]*\n\n```json\n([\s\S]*?)```/.exec(page);
    expect(m, "docs/cli/sbom.md has its excerpt").not.toBeNull();
    const shown = JSON.parse(m![1]!) as Record<string, string>;
    const doc = JSON.parse((await runOciutil(["sbom", layout])).stdout) as { packages: Array<Record<string, string>> };
    const found = doc.packages.find((p) => p.name === shown.name && p.versionInfo === shown.versionInfo);
    expect(found?.SPDXID?.startsWith(shown.SPDXID!.replace(/…$/, ""))).toBe(true);
    expect({ ...found, SPDXID: shown.SPDXID }).toEqual(shown);
  });

  it("its error lines are the messages ociutil prints", async () => {
    const page = await readFile(join(REPO_ROOT, "docs", "cli", "sbom.md"), "utf8");
    const block = /## Errors[\s\S]*?```\n([\s\S]*?)```/.exec(page)![1]!;
    const cases: Record<string, string> = {
      "var/lib/dpkg/status": "Package: pkg-a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\nPackage: pkg-b\nthis is not a field\n",
      "var/lib/dpkg/status.d/xx": "Package: xx\nVersion: not a version\nArchitecture: all\n",
      "lib/apk/db/installed": "P:musl\nA:x86_64\n\nP:zlib\nV:1.3-r0\n",
    };
    const seen: string[] = [];
    for (const [path, content] of Object.entries(cases)) {
      const dir = join(tmp, "docs-errors", "img");
      await rm(dir, { recursive: true, force: true });
      await buildTestImage(dir, { layers: [{ files: { [path]: content } }] });
      const r = await runOciutil(["sbom", dir]);
      seen.push(r.stderr.replace(dir, "img"));
    }
    expect(seen.join("")).toBe(block);
  });
});
