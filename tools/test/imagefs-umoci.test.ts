/**
 * `ociutil ls` and `ociutil export` agree with `umoci unpack` of the same image on every path, type,
 * mode, owner, content and hard link, for an image with whiteouts, an opaque directory, symlinks and
 * hard links across layers (fixtures.ts LAYERED); and the exported tar is accepted by GNU tar.
 *
 * umoci runs with --rootless so the test needs no privileges. A rootless unpack cannot chown: every
 * file on disk belongs to the unpacking user, and umoci records the image's owners in the
 * user.rootlesscontainers xattr, which its mtree manifest lists. So owners are compared with umoci's
 * mtree; everything else with umoci's rootfs on disk.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, mustRun, peer, removeTempDir, runOciutil } from "./harness/index.js";
import { buildLayeredImage, LAYERED } from "./imagefs/fixtures.js";
import { mtreeOwners, observeDir, observeLs, observeTar, type Observed } from "./imagefs/observe.js";

let tmp: string;
let layout: string;
let umoci: Observed;
let umociOwners: Map<string, { uid: number; gid: number }>;

beforeAll(async () => {
  tmp = await makeTempDir("imagefs-umoci");
  layout = join(tmp, "layout");
  await buildLayeredImage(layout, LAYERED, { ref: "v1" });
  const bundle = join(tmp, "bundle");
  await mustRun(peer("umoci"), ["unpack", "--rootless", "--image", `${layout}:v1`, bundle]);
  umoci = await observeDir(join(bundle, "rootfs"));
  const mtree = (await readdir(bundle)).find((f) => f.endsWith(".mtree"));
  if (mtree === undefined) throw new Error(`umoci unpack left no mtree manifest in ${bundle}`);
  umociOwners = await mtreeOwners(join(bundle, mtree));
});
afterAll(async () => removeTempDir(tmp));

/** umoci's view with the image's owners (from the mtree) in place of the on-disk ones. */
function umociWithOwners(): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [p, seen] of umoci.entries) {
    const owner = umociOwners.get(p);
    if (owner === undefined) throw new Error(`umoci's mtree has no entry for ${p}`);
    out.set(p, { ...seen, ...owner });
  }
  return out;
}

/** The fixture is what the test claims: without these, agreeing with umoci would prove little. */
function expectFixtureCoversTheCases(seen: Observed): void {
  expect(seen.entries.has("/gone")).toBe(false); // .wh.gone
  expect(seen.entries.has("/etc/secret")).toBe(false); // .wh.secret
  expect([...seen.entries.keys()].filter((p) => p.startsWith("/data/"))).toEqual(["/data/new"]); // opaque
  expect(seen.entries.get("/dir-to-file")?.type).toBe("file");
  expect(seen.entries.get("/bin/sh")).toMatchObject({ type: "symlink", linkname: "/bin/tool" });
  expect(seen.entries.get("/etc/shadow")).toMatchObject({ uid: 0, gid: 42, mode: "0640" });
  expect(seen.entries.get("/links/keeps-doomed")).toMatchObject({ uid: 2000, gid: 2000, mode: "0600" });
  expect(seen.linkGroups).toEqual([["/usr/bin/app", "/usr/bin/app-link", "/usr/bin/app2"]]);
}

describe("the final filesystem of a layered image", () => {
  it("umoci sees the cases the fixture is meant to have", () => {
    expectFixtureCoversTheCases({ entries: new Map(umociWithOwners()) as Observed["entries"], linkGroups: umoci.linkGroups });
  });

  it("ls -R --json agrees with umoci unpack on every path, type, mode, owner, content and hard link", async () => {
    const r = await runOciutil(["ls", "-R", "--json", `${layout}:v1`]);
    expect(r.code, r.stderr).toBe(0);
    const ls = observeLs(r.stdout);
    expect(ls.entries).toEqual(umociWithOwners());
    expect(ls.linkGroups).toEqual(umoci.linkGroups);
    expectFixtureCoversTheCases(ls);
    expect(JSON.parse(r.stdout).problems).toEqual([]);
  });

  it("export's tar agrees with umoci unpack, owners from the tar headers", async () => {
    const out = join(tmp, "flat.tar");
    const r = await runOciutil(["export", `${layout}:v1`, out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/flat\.tar: \d+ entries, 10 files, \d+ bytes/);
    const exported = await observeTar(out);
    expect(exported.entries).toEqual(umociWithOwners());
    expect(exported.linkGroups).toEqual(umoci.linkGroups);
  });

  it("export's tar is listed by GNU tar -tvf and extracts to what umoci unpacked", async () => {
    const out = join(tmp, "flat-gnu.tar");
    expect((await runOciutil(["export", `${layout}:v1`, out])).code).toBe(0);
    const list = await mustRun("tar", ["-tvf", out, "--numeric-owner"]);
    const lines = list.stdout.trim().split("\n");
    expect(lines).toHaveLength(umoci.entries.size);
    expect(list.stdout).toMatch(/^-rw-r----- 0\/42 .* etc\/shadow$/m);
    expect(list.stdout).toMatch(/^hrwxr-xr-x 1000\/1000 .* usr\/bin\/app-link link to usr\/bin\/app$/m);
    expect(list.stdout).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/sh -> \/bin\/tool$/m);

    const dest = join(tmp, "extracted");
    await mustRun("mkdir", [dest]);
    // Extraction must not depend on running as root: owners and modes were checked in the tar headers above.
    await mustRun("tar", ["-xf", out, "-C", dest, "--no-same-owner", "--no-same-permissions"]);
    const extracted = await observeDir(dest);
    const strip = (m: Map<string, { uid?: number; gid?: number; mode?: string }>) =>
      new Map([...m].map(([p, { uid: _u, gid: _g, mode: _m, ...rest }]) => [p, rest]));
    expect(strip(extracted.entries)).toEqual(strip(umoci.entries));
    expect(extracted.linkGroups).toEqual(umoci.linkGroups);
  });
});
