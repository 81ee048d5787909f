/**
 * A layer's bytes depend only on its manifest and the contents of its sources (issue 17): not on the
 * executable bits of the inputs when the action runs (remote executors mark every input executable),
 * and not on the Node that runs ociutil (node:zlib is each Node build's own zlib).
 *
 * The second Node is Debian's `nodejs` in the sid rootfs (`.ci/setup-sid-rootfs`), entered with
 * chroot: a different Node and a different zlib (the system's) from the host's official build.
 */
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, mustRun, mustRunOciutil, ociutilBundle, removeTempDir, runTool, sidRootfs } from "./harness/index.js";

let dir: string;

beforeAll(async () => {
  dir = await makeTempDir("layer-bytes");
});
afterAll(async () => {
  await removeTempDir(dir);
});

interface LayerInfo {
  descriptor: { digest: string };
  diffID: string;
}

/** Text that compresses (so the deflate implementation shows in the bytes): some source-like lines. */
function sourceText(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`export const value${i} = ${(i * 7919) % 1000}; // line ${i} of a generated module`);
  return `${lines.join("\n")}\n`;
}

/** Writes the same sources under `root`, with the given mode on every file. */
async function writeSources(root: string, mode: number): Promise<void> {
  await mkdir(join(root, "tree", "sub"), { recursive: true });
  const files: Record<string, string> = { "config.txt": "key=value\n", "tool.sh": "#!/bin/sh\necho tool\n", "tree/a.js": sourceText(400), "tree/sub/b.js": sourceText(900) };
  for (const [p, text] of Object.entries(files)) {
    await writeFile(join(root, p), text);
    await chmod(join(root, p), mode);
  }
}

function manifest(root: string): string {
  return JSON.stringify({
    prefix: "app",
    modes: { "tree/sub/b.js": 0o750 },
    entries: [
      { path: "config.txt", src: `${root}/config.txt` },
      { path: "bin/tool.sh", src: `${root}/tool.sh`, executable: true },
      { path: "tree", src: `${root}/tree` },
    ],
  });
}

async function buildLayer(cwd: string, root: string, name: string): Promise<LayerInfo> {
  await writeFile(join(cwd, `${name}.json`), manifest(root));
  await mustRunOciutil(["layer", "--manifest", `${name}.json`, "--output", `${name}.tar.gz`, "--info", `${name}.info`], { cwd });
  return JSON.parse(await readFile(join(cwd, `${name}.info`), "utf8")) as LayerInfo;
}

describe("layer modes", () => {
  it("do not come from the inputs' executable bits: all executable (as remotely) or none, one digest", async () => {
    await writeSources(join(dir, "exec"), 0o755);
    await writeSources(join(dir, "plain"), 0o644);
    const remote = await buildLayer(dir, "exec", "exec");
    const local = await buildLayer(dir, "plain", "plain");
    expect(remote.descriptor.digest).toBe(local.descriptor.digest);
    expect(remote.diffID).toBe(local.diffID);

    // The documented rule: a target's executable 0755, `modes` as given, every other file 0644.
    const listing = (await mustRun("tar", ["tzvf", join(dir, "exec.tar.gz")])).stdout;
    expect(listing).toMatch(/^-rw-r--r-- .* app\/config\.txt$/m);
    expect(listing).toMatch(/^-rwxr-xr-x .* app\/bin\/tool\.sh$/m);
    expect(listing).toMatch(/^-rw-r--r-- .* app\/tree\/a\.js$/m);
    expect(listing).toMatch(/^-rwxr-x--- .* app\/tree\/sub\/b\.js$/m);
    expect(listing).toMatch(/^drwxr-xr-x .* app\/tree\/sub\/$/m);
  });
});

describe("layer compression", () => {
  it("gives the same bytes under the host's Node and under Debian's node (system zlib)", async () => {
    const rootfs = sidRootfs();
    // A working directory inside the rootfs, so both Nodes read the same files at the same relative paths.
    const work = await mkdtemp(join(rootfs, "tmp", "ociutil-layer-bytes-"));
    try {
      const inside = work.slice(rootfs.length);
      await copyFile(ociutilBundle(), join(work, "ociutil.mjs"));
      await writeSources(join(work, "src"), 0o644);
      await writeFile(join(work, "m.json"), manifest("src"));

      const hostRun = await runTool(process.execPath, [join(work, "ociutil.mjs"), "layer", "--manifest", "m.json", "--output", "host.tar.gz", "--info", "host.info"], { cwd: work });
      expect(hostRun.stderr).toBe("");
      expect(hostRun.code).toBe(0);
      const script = `cd ${inside} && exec node ociutil.mjs layer --manifest m.json --output debian.tar.gz --info debian.info`;
      const debianRun = await runTool("chroot", [rootfs, "sh", "-c", script]);
      expect(debianRun.stderr).toBe("");
      expect(debianRun.code).toBe(0);
      const versions = await runTool("chroot", [rootfs, "node", "-p", "process.version + ' zlib ' + process.versions.zlib"]);
      expect(versions.stdout.trim()).not.toBe(`${process.version} zlib ${process.versions.zlib}`);

      const sha = async (f: string) => createHash("sha256").update(await readFile(join(work, f))).digest("hex");
      expect(await sha("debian.tar.gz")).toBe(await sha("host.tar.gz"));
      expect(await readFile(join(work, "debian.info"), "utf8")).toBe(await readFile(join(work, "host.info"), "utf8"));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
