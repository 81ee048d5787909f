/**
 * Every `$ ociutil ...` example in docs/cli/imagefs.md and docs/cli/structure-test.md runs here, and
 * its output must be what the page shows (stdout and stderr together). A ```yaml block whose first
 * line is `# NAME` is written to NAME first. The layouts are fixtures.ts LAYERED with uncompressed layers, so
 * their digests depend only on the tar bytes and not on a zlib version.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDir, REPO_ROOT, runOciutil } from "./harness/index.js";
import { buildLayeredImage, LAYERED } from "./imagefs/fixtures.js";

const PAGES = ["imagefs.md", "structure-test.md"].map((p) => join(REPO_ROOT, "docs", "cli", p));

interface Example {
  args: string[];
  output: string;
}

/** ```console blocks: "$ ociutil ARGS" lines, each followed by its output. */
async function examples(PAGE: string): Promise<Example[]> {
  const text = await readFile(PAGE, "utf8");
  for (const block of text.matchAll(/```yaml\n# (\S+)\n([\s\S]*?)```/g)) await writeFile(join(tmp, block[1]!), block[2]!);
  const out: Example[] = [];
  for (const block of text.matchAll(/```console\n([\s\S]*?)```/g)) {
    let current: Example | undefined;
    for (const line of block[1]!.split("\n")) {
      if (line.startsWith("$ ")) {
        const [cmd, ...args] = line.slice(2).split(" ");
        if (cmd !== "ociutil") throw new Error(`${PAGE}: an example runs ${cmd}, not ociutil`);
        current = { args, output: "" };
        out.push(current);
      } else if (current !== undefined && line !== "") current.output += `${line}\n`;
    }
  }
  return out;
}

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir("imagefs-docs");
  await buildLayeredImage(join(tmp, "app"), LAYERED, { ref: "v1", compression: "none" });
  await buildLayeredImage(join(tmp, "app-before"), LAYERED.slice(0, 2), { ref: "v1", compression: "none" });
});
afterAll(async () => removeTempDir(tmp));

describe("docs/cli/imagefs.md", () => {
  it("has examples of ls, cat, export and diff", async () => {
    const commands = new Set((await examples(PAGES[0]!)).map((e) => e.args[0]));
    expect(commands).toEqual(new Set(["ls", "cat", "export", "diff"]));
  });
});

describe("docs/cli/structure-test.md", () => {
  it("has an example", async () => {
    expect((await examples(PAGES[1]!)).map((e) => e.args[0])).toEqual(["structure-test"]);
  });
});

describe.each(PAGES)("%s", (page) => {
  it("shows what each example prints", async () => {
    for (const ex of await examples(page)) {
      const r = await runOciutil(ex.args, { cwd: tmp });
      expect(r.stdout + r.stderr, `ociutil ${ex.args.join(" ")}`).toBe(ex.output);
    }
  });
});
