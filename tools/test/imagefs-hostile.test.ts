/**
 * Hostile layers, built entry by entry with tar-stream (fixtures.ts), through the commands that read
 * an image's filesystem (ls, export, diff, structure-test, sbom):
 *  - names a runtime resolves inside the root (absolute, `..`, symlinked parents) are where umoci
 *    unpack puts them, and an entry that cannot be applied fails a structure test (issue 16 row 4);
 *  - fileContentTests never pass on content they did not read, and do not read a huge file (row 5);
 *  - a truncated layer whose digest is right is one line naming the layer (row 6);
 *  - a directory tree 6,000 deep is listed, exported and diffed (row 7);
 *  - ls -R streams its output: memory per entry is bounded (row 10, ls part);
 *  - control characters in names are escaped in text listings, kept in --json (row 11).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, mustRun, peer, removeTempDir, runOciutil, runOciutilWithPeakRss } from "./harness/index.js";
import { buildLayeredImage, dir, emptyFilesTar, file, symlink, tarBytes } from "./imagefs/fixtures.js";
import { observeDir, observeLs, type Observed } from "./imagefs/observe.js";

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir("imagefs-hostile");
});
afterAll(async () => removeTempDir(tmp));

/** A failing command's whole stderr: one `ociutil:` line, no `internal error`, no stack. */
function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^ociutil: /);
  expect(lines[0]).not.toMatch(/internal error/);
  expect(lines[0]).toMatch(pattern);
  expect(r.code).toBe(1);
}

async function structureConfig(name: string, body: object): Promise<string> {
  const f = join(tmp, `${name}.json`);
  await writeFile(f, JSON.stringify({ schemaVersion: "2.0.0", ...body }));
  return f;
}

const DPKG_STATUS = "Package: planted\nStatus: install ok installed\nVersion: 6.6.6\nArchitecture: all\n";

/** Without owners: a rootless umoci unpack owns every file itself (imagefs-umoci.test.ts compares owners with its mtree). */
function withoutOwners(o: Observed): Map<string, unknown> {
  return new Map([...o.entries].map(([p, { uid: _u, gid: _g, ...rest }]) => [p, rest]));
}

describe("names a runtime resolves inside the root", () => {
  let layout: string;
  beforeAll(async () => {
    layout = join(tmp, "resolve");
    await buildLayeredImage(
      layout,
      [
        [
          dir("usr"),
          dir("usr/bin"),
          symlink("lnk", "/usr"),
          file("/etc/secret", "absolute\n", 0o600),
          file("lnk/bin/backdoor", "through a symlinked parent\n", 0o4755),
          file("../outside", "climbs\n"),
          symlink("up", "../../../usr/bin"),
          file("up/climbed", "through a climbing symlink\n"),
        ],
        [symlink("vl", "/var/lib"), file("vl/dpkg/status", DPKG_STATUS)],
      ],
      { ref: "v1" },
    );
  });

  it("ls -R --json sees what umoci unpack writes", async () => {
    const bundle = join(tmp, "resolve-bundle");
    await mustRun(peer("umoci"), ["unpack", "--rootless", "--image", `${layout}:v1`, bundle]);
    const umoci = await observeDir(join(bundle, "rootfs"));
    // What this test is about: umoci writes these where a runtime finds them.
    for (const p of ["/etc/secret", "/usr/bin/backdoor", "/outside", "/usr/bin/climbed", "/var/lib/dpkg/status"]) expect(umoci.entries.get(p)?.type, p).toBe("file");

    const r = await runOciutil(["ls", "-R", "--json", `${layout}:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(withoutOwners(observeLs(r.stdout))).toEqual(withoutOwners(umoci));
    expect(JSON.parse(r.stdout).problems).toEqual([]);
  });

  it("structure-test sees them: shouldExist: false fails", async () => {
    const config = await structureConfig("resolve", {
      fileExistenceTests: [
        { name: "no secret", path: "/etc/secret", shouldExist: false },
        { name: "no backdoor", path: "/usr/bin/backdoor", shouldExist: false },
        { name: "no climbed", path: "/usr/bin/climbed", shouldExist: false },
      ],
    });
    const r = await runOciutil(["structure-test", "--json", "-c", config, `${layout}:v1`]);
    expect(r.code).toBe(1);
    const results = JSON.parse(r.stdout).platforms[0].results as Array<{ check: string; pass: boolean }>;
    expect(results.map((x) => x.pass)).toEqual([false, false, false]);
  });

  it("sbom lists a package whose database was written through a symlinked parent", async () => {
    const r = await runOciutil(["sbom", "--format", "cyclonedx-json", `${layout}:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).components.map((c: { name: string }) => c.name)).toContain("planted");
  });
});

describe("an entry that cannot be applied", () => {
  let layout: string;
  beforeAll(async () => {
    layout = join(tmp, "dropped");
    // A file where a directory must be: no extractor can write etc/passwd (umoci's unpack fails).
    await buildLayeredImage(layout, [[file("etc", "not a directory\n"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")]]);
  });

  it("is one warning line in ls and sbom, and a problem in --json", async () => {
    const ls = await runOciutil(["ls", layout]);
    expect(ls.code).toBe(0);
    expect(ls.stderr).toMatch(/^ociutil: warning: layer 0 \(sha256:[0-9a-f]{12}\): "etc\/passwd" not applied: parent \/etc is a file, not a directory\n$/);
    const json = JSON.parse((await runOciutil(["ls", "--json", layout])).stdout);
    expect(json.problems).toMatchObject([{ layer: 0, path: "etc/passwd" }]);
    const sbom = await runOciutil(["sbom", layout]);
    expect(sbom.code).toBe(0);
    expect(sbom.stderr).toMatch(/^ociutil: warning: layer 0 .*"etc\/passwd" not applied/);
  });

  it("fails a structure test whose own checks pass", async () => {
    const config = await structureConfig("dropped", { fileExistenceTests: [{ name: "no passwd", path: "/etc/passwd", shouldExist: false }] });
    const r = await runOciutil(["structure-test", "-c", config, layout]);
    expect(r.stdout).toMatch(/^PASS linux\/amd64 fileExistenceTests "no passwd"/m);
    expect(r.stdout).toMatch(/^FAIL linux\/amd64 layers: layer 0 \(sha256:[0-9a-f]{12}\): "etc\/passwd" not applied: parent \/etc is a file/m);
    expectOneLine(r, /structure test failed: 1 of 2 checks/);
  });
});

describe("fileContentTests", () => {
  const BIG = 100 * 1024 * 1024; // zeros: a 100 KB gzip layer
  let layout: string;
  beforeAll(async () => {
    layout = join(tmp, "content");
    const big = Buffer.alloc(BIG);
    big.write("\0secret", 0);
    await buildLayeredImage(layout, [[file("big", big), file("small", "\0secret\n")]]);
  });

  it("on a file over the cap: fail with one line, without reading it", async () => {
    const config = await structureConfig("content-big", { fileContentTests: [{ name: "big", path: "/big", excludedContents: ["nothing-like-this"] }] });
    const r = await runOciutilWithPeakRss(["structure-test", "-c", config, layout]);
    expect(r.stdout).toMatch(/^FAIL linux\/amd64 fileContentTests "big" \(\/big\): expected a file to read, found: \/big is 104857600 bytes, over the 32 MiB that content checks read; not checked$/m);
    expectOneLine(r, /structure test failed: 1 of 1 checks/);
    expect(r.peakRssMB).toBeLessThan(150); // reading it whole took 3-4 bytes of memory per byte
  });

  it("match the whole content, NUL bytes included", async () => {
    const config = await structureConfig("content-small", {
      fileContentTests: [
        { name: "excluded", path: "/small", excludedContents: ["secret"] },
        { name: "expected", path: "/small", expectedContents: ["^\\x00secret\\n$"] },
      ],
    });
    const r = await runOciutil(["structure-test", "--json", "-c", config, layout]);
    expect(JSON.parse(r.stdout).platforms[0].results.map((x: { pass: boolean }) => x.pass)).toEqual([false, true]);
  });
});

describe("a truncated layer whose digest is right", () => {
  let layout: string;
  beforeAll(async () => {
    layout = join(tmp, "truncated");
    const whole = await tarBytes([dir("var/lib/dpkg"), file("var/lib/dpkg/status", DPKG_STATUS), file("big", Buffer.alloc(64 * 1024, 7))]);
    // Cut inside big's content: the tar ends early, and the layer's descriptor describes these bytes.
    await buildLayeredImage(layout, [{ raw: whole.subarray(0, 3 * 512 + 20_000), compression: "gzip" }]);
  });

  it.each([["ls"], ["sbom"], ["export"]])("%s: one line naming the layer", async (command) => {
    const args = command === "export" ? ["export", layout, join(tmp, "truncated.tar")] : [command, layout];
    expectOneLine(await runOciutil(args), /layer 0 \(sha256:[0-9a-f]{12}\): not a valid tar stream: .*(end|truncated)/i);
  });
});

describe("a directory tree 6,000 deep", () => {
  const DEPTH = 6000;
  const deep = Array.from({ length: DEPTH }, () => "d").join("/");
  let layout: string;
  let other: string;
  beforeAll(async () => {
    layout = join(tmp, "deep");
    other = join(tmp, "deep-other");
    // One entry: its parents are made as an extractor makes them (recursion overflowed from ~4,000).
    await buildLayeredImage(layout, [[file(`${deep}/f`, "deep\n")]]);
    await buildLayeredImage(other, [[file(`${deep}/f`, "changed\n")]]);
  });

  it("is listed by ls -R", async () => {
    const r = await runOciutil(["ls", "-R", layout]);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(DEPTH + 1);
    expect(lines.at(-1)).toMatch(new RegExp(` /${deep}/f$`));
  });

  it("is exported", async () => {
    const out = join(tmp, "deep.tar");
    const r = await runOciutil(["export", layout, out]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(`: ${DEPTH + 1} entries, 1 files, 5 bytes`);
  });

  it("is diffed", async () => {
    const r = await runOciutil(["diff", layout, other]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`M /${deep}/f (content)\n`);
  });
});

describe("a layer of 200,000 empty files", () => {
  // 1,000,000 takes minutes to read on a busy 2-core machine; docs/cli/imagefs.md has that figure
  // from a manual run. Listing them whole took 446 MB here (2.2 KB an entry); streamed, ~190 MB,
  // most of it the filesystem's own entries (the budget below is ~1 KB an entry over Node's base).
  const COUNT = 200_000;
  const MAX_RSS_MB = 260;
  let layout: string;
  beforeAll(async () => {
    layout = join(tmp, "many");
    await buildLayeredImage(layout, [{ raw: emptyFilesTar(COUNT), compression: "gzip" }]);
  });

  it.each([[["-R"]], [["-R", "--json"]]])(`ls %s streams the listing: peak RSS under ${MAX_RSS_MB} MB`, async (flags) => {
    const r = await runOciutilWithPeakRss(["ls", ...flags, layout]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    if (flags.includes("--json")) expect(JSON.parse(r.stdout).entries).toHaveLength(COUNT + COUNT / 1000);
    else expect(r.stdout.trim().split("\n")).toHaveLength(COUNT + COUNT / 1000);
    expect(r.peakRssMB).toBeLessThan(MAX_RSS_MB);
  });
});

describe("control characters in names", () => {
  const forged = "x\n-rwsr-xr-x  1     0     0          0 2024-01-01 00:00 layer 0 sha256:000000000000 su";
  const esc = "\u001b[31mred\u001b[0m";
  let layout: string;
  let plain: string;
  beforeAll(async () => {
    layout = join(tmp, "names");
    plain = join(tmp, "names-plain");
    await buildLayeredImage(layout, [[file(forged, "1\n"), file(esc, "2\n"), symlink("tab\tlink", "back\\slash\u007f"), file("caf\u00e9 ok", "3\n")]]);
    await buildLayeredImage(plain, [[file("caf\u00e9 ok", "3\n")]]);
  });

  it("ls escapes them as ls -b does; --json keeps the real names", async () => {
    const r = await runOciutil(["ls", layout]);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(4); // no forged line
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(lines.map((l) => l.slice(l.indexOf(" /") + 1))).toEqual([
      "/\\033[31mred\\033[0m",
      "/caf\u00e9 ok",
      "/tab\\tlink -> back\\\\slash\\177",
      "/x\\n-rwsr-xr-x  1     0     0          0 2024-01-01 00:00 layer 0 sha256:000000000000 su",
    ]);
    const json = JSON.parse((await runOciutil(["ls", "--json", layout])).stdout);
    expect(json.entries.map((e: { path: string }) => e.path)).toEqual([`/${esc}`, "/caf\u00e9 ok", "/tab\tlink", `/${forged}`]);
  });

  it("diff escapes them; --json keeps the real names", async () => {
    const r = await runOciutil(["diff", plain, layout]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("A /\\033[31mred\\033[0m\nA /tab\\tlink\nA /x\\n-rwsr-xr-x  1     0     0          0 2024-01-01 00:00 layer 0 sha256:000000000000 su\n");
    const json = JSON.parse((await runOciutil(["diff", "--json", plain, layout])).stdout);
    expect(json.added).toEqual([`/${esc}`, "/tab\tlink", `/${forged}`]);
  });
});
