/**
 * --progress: drawn in place on a terminal (a pseudo-terminal from util-linux `script`), nothing in
 * a pipe with `auto`, one line per blob with `plain`; and whatever was drawn, an error is the last line.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildTestImage,
  makeTempDir,
  ociutilBundle,
  removeTempDir,
  runOciutil,
  runTool,
  startFaultProxy,
  startRegistry,
  type BuiltImage,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";

let tmp: string;
let fixture: string;
let image: BuiltImage;
let registry: TestRegistry;
let proxy: FaultProxy;

beforeAll(async () => {
  tmp = await makeTempDir("progress");
  fixture = join(tmp, "fixture");
  image = await buildTestImage(fixture, { layers: [{ randomBytes: 300_000 }, { randomBytes: 200_000 }, { files: { a: "1" } }] });
  registry = await startRegistry();
  // The slow network is a MOCK: docker-registry on loopback answers at once, and a live display needs
  // a blob that takes a while. The body of the first layer stops half way for a second.
  proxy = await startFaultProxy(registry.host, []);
  const push = await runOciutil(["push", "--insecure", fixture, `${registry.host}/app:v1`]);
  expect(push.stderr).toBe("");
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await removeTempDir(tmp);
});

function slowFirstLayer(): void {
  proxy.setRules([{ method: "GET", path: new RegExp(`/blobs/${image.layerDigests[0]}$`), action: { kind: "pause", afterBytes: 150_000, ms: 1500 } }]);
}

/** Runs ociutil on a pseudo-terminal: `script -qfec CMD /dev/null`; stdout and stderr both reach the terminal. */
async function onTerminal(args: string[]): Promise<{ code: number; screen: string }> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, ociutilBundle(), ...args].map(quote).join(" ");
  const r = await runTool("script", ["-qfec", cmd, "/dev/null"], { env: { COLUMNS: "100", LINES: "40", TERM: "xterm" } });
  return { code: r.code, screen: r.stdout };
}

/** The lines a terminal would show once the cursor movements and erasures are applied. */
function settledLines(screen: string): string[] {
  const lines: string[] = [""];
  let row = 0;
  const re = /\x1b\[(\d*)([AJK])|\r\n|\n|\r|[^\x1b\r\n]+/g;
  for (const m of screen.matchAll(re)) {
    const t = m[0];
    if (t === "\n" || t === "\r\n") {
      row++;
      if (row === lines.length) lines.push("");
    } else if (t === "\r") {
      // column 0: the next text overwrites the line (our frames always start a line afresh)
      lines[row] = "";
    } else if (m[2] === "A") row = Math.max(0, row - Number(m[1] || 1));
    else if (m[2] === "J") {
      lines.splice(row + 1);
      lines[row] = ""; // the cursor is at column 0 when we erase
    }
    else if (m[2] === "K") lines[row] = "";
    else lines[row] = (lines[row] ?? "") + t;
  }
  return lines.filter((l) => l !== "");
}

describe("progress of a pull", () => {
  it("is drawn in place on a terminal, per blob and in total, and gives way to one summary line", async () => {
    slowFirstLayer();
    const out = join(tmp, "tty-pull");
    const r = await onTerminal(["pull", "--insecure", `${proxy.host}/app:v1`, "-o", out]);
    expect(r.code).toBe(0);
    // While the first layer waited, a frame showed it part way, and the total with a rate.
    const short = image.layerDigests[0]!.slice(0, "sha256:".length + 12);
    expect(r.screen).toMatch(new RegExp(`${short}  146\\.5 KiB / 29\\d\\.\\d KiB  \\d+%  [\\d.]+ (B|KiB|MiB)/s`));
    expect(r.screen).toMatch(/blobs \d\/4  [\d.]+ KiB \/ 4\d\d\.\d KiB  \d+%  [\d.]+ (B|KiB|MiB)\/s  \d+s left/);
    // It was redrawn in place: the terminal erased it (cursor up, erase down) before the next frame.
    expect(r.screen).toMatch(/\x1b\[\d+A\x1b\[J/);
    // What stays on the screen: the summary line, then the digest on stdout.
    const lines = settledLines(r.screen);
    expect(lines).toEqual([expect.stringMatching(/^blobs: 4 downloaded; 4\d\d\.\d KiB in [\d.]+s \(.*\/s\)$/), `${proxy.host}/app@${image.manifestDigest}`]);
  }, 120_000);

  it("in a pipe: nothing with --progress auto (the default), one line per blob finished with plain", async () => {
    const auto = await runOciutil(["pull", "--insecure", "--progress", "auto", `${registry.host}/app:v1`, "-o", join(tmp, "pipe-pull")]);
    expect(auto.code).toBe(0);
    expect(auto.stderr).toBe("");
    const out = join(tmp, "plain-pull");
    const first = await runOciutil(["pull", "--insecure", "--progress", "plain", `${registry.host}/app:v1`, "-o", out]);
    expect(first.code).toBe(0);
    const blobs = [image.configDigest, ...image.layerDigests];
    const lines = first.stderr.trim().split("\n");
    expect(lines).toHaveLength(blobs.length + 1);
    for (const d of blobs) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${d.slice(0, 19)}: downloaded [\\d.]+ (B|KiB)$`)));
    expect(lines.at(-1)).toMatch(/^blobs: 4 downloaded; 4\d\d\.\d KiB in [\d.]+s/);
    expect(first.stdout.trim()).toBe(`${registry.host}/app@${image.manifestDigest}`);

    const again = await runOciutil(["pull", "--insecure", "--progress=plain", `${registry.host}/app:v1`, "-o", out]);
    expect(again.stderr.trim().split("\n").filter((l) => l.endsWith(": present"))).toHaveLength(blobs.length);
  });

  it("refuses a --progress mode it does not know, in one line", async () => {
    const r = await runOciutil(["pull", "--progress", "fancy", `${registry.host}/app:v1`, "-o", join(tmp, "x")]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^ociutil: error: option '--progress <mode>' argument 'fancy' is invalid/);
  });
});

describe("progress of a push and a copy", () => {
  it("shows uploaded, present and mounted blobs, one line each with --progress plain", async () => {
    const first = await runOciutil(["push", "--insecure", "--progress", "plain", fixture, `${registry.host}/other:v1`]);
    expect(first.code).toBe(0);
    // The registry already holds every blob of this image in another repository: push does not mount
    // from there (it does not know), so each is uploaded; a second push finds them present.
    expect(first.stderr.trim().split("\n").filter((l) => / uploaded [\d.]+ (B|KiB)$/.test(l))).toHaveLength(4);
    const again = await runOciutil(["push", "--insecure", "--progress", "plain", fixture, `${registry.host}/other:v1`]);
    expect(again.stderr.trim().split("\n").filter((l) => l.endsWith(": present"))).toHaveLength(4);
    const copy = await runOciutil(["copy", "--insecure", "--progress", "plain", `${registry.host}/app:v1`, `${registry.host}/copied:v1`]);
    expect(copy.code).toBe(0);
    expect(copy.stderr.trim().split("\n").filter((l) => l.endsWith(": mounted"))).toHaveLength(4);
    expect(copy.stderr.trim().split("\n").at(-1)).toMatch(/^blobs: 4 mounted; 0 B in /);
  });
});

describe("progress of save and export", () => {
  it("save writes one line per layer put in the tarball", async () => {
    const r = await runOciutil(["save", "--progress", "plain", fixture, join(tmp, "saved.tar")]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split("\n");
    const layers = [...image.layerDigests].sort();
    expect(lines.slice(0, -1).sort()).toEqual(layers.map((d) => expect.stringMatching(new RegExp(`^${d.slice(0, 19)}: written [\\d.]+ (B|KiB)$`))));
    expect(lines.at(-1)).toMatch(/^blobs: 3 written; /);
  });

  it("export writes one line per layer whose files it copied", async () => {
    const r = await runOciutil(["export", "--progress", "plain", fixture, join(tmp, "exported.tar")]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split("\n");
    // The random layers write the same path, so only the second one's 200,000 bytes are in the
    // filesystem; the last layer's file has 1 byte. The first layer is not read at all.
    expect(lines).toEqual([
      `${image.layerDigests[1]!.slice(0, 19)}: written 195.3 KiB`,
      `${image.layerDigests[2]!.slice(0, 19)}: written 1 B`,
      expect.stringMatching(/^blobs: 2 written; 195\.3 KiB in /),
    ]);
  });
});

describe("progress of a promotion", () => {
  it("counts images copied and present, one line per image with --progress plain", async () => {
    const manifest = join(tmp, "promoter-manifest.yaml");
    await writeFile(
      manifest,
      `registries:\n- name: ${registry.host}\n  src: true\n- name: ${registry.host}/prod\nimages:\n- name: app\n  dmap:\n    "${image.manifestDigest}": ["1.0"]\n`,
    );
    const r = await runOciutil(["promote", "--insecure", "--progress", "plain", "--manifest", manifest, "--confirm"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toEqual([`copied ${registry.host}/prod/app@${image.manifestDigest}`, expect.stringMatching(/^images 1\/1: 1 copied, 0 present, 0 failed; blobs: 4 mounted; /)]);
  });
});

describe("the last line on stderr is the error", () => {
  it("on a terminal, after progress and --verbose lines were drawn", async () => {
    // MOCK: a layer's bytes arrive corrupted on every attempt (docker-registry never sends that). The
    // retries' back-off leaves the display time to draw.
    proxy.setRules([{ method: "GET", path: new RegExp(`/blobs/${image.layerDigests[0]}$`), action: { kind: "corrupt" } }]);
    const r = await onTerminal(["pull", "--insecure", "--verbose", `${proxy.host}/app:v1`, "-o", join(tmp, "tty-fail")]);
    expect(r.code).toBe(1);
    expect(r.screen).toMatch(/blobs \d\/4  /); // a frame was drawn
    const lines = settledLines(r.screen);
    expect(lines.at(-1)).toMatch(new RegExp(`^ociutil: .*${image.layerDigests[0]}`));
    // The verbose lines stay; no frame is left on the screen.
    expect(lines.filter((l) => l.startsWith("retry after "))).toHaveLength(4);
    expect(lines.filter((l) => /^(blobs |sha256:[0-9a-f]{12}  )/.test(l))).toEqual([]);
  }, 120_000);
});
