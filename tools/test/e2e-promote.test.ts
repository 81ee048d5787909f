/**
 * oci_promote under the real Bazel 7 (e2e/promote), against real registries on 127.0.0.1:
 * `bazel test` validates the manifests and contacts no registry (the registries' logs show no request);
 * a manifest with mistakes fails its test, naming file and line; `bazel run //:promote` is a dry run
 * that changes nothing; `-- --confirm` promotes (checked with crane); a second run does nothing; the
 * thin manifest directory (a filegroup) promotes too.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BazelWorkspace, MountedCheckout, REPO_ROOT, logMark, mustRun, peer, runTool, seedImage, servedSince, startRegistry, type TestRegistry } from "./harness/index.js";

const checkout = new MountedCheckout();
const HOST_WS = join(REPO_ROOT, "e2e", "promote");
const ws = new BazelWorkspace(checkout, `${checkout.src}/e2e/promote`);

let staging: TestRegistry;
let prod: TestRegistry;
const d: Record<string, string> = {};

const craneLs = async (repo: string): Promise<string[]> => {
  const r = await runTool(peer("crane"), ["ls", "--insecure", repo]);
  return r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean) : [];
};

beforeAll(async () => {
  await checkout.mount();
  [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  d["app"] = await seedImage(staging, "staging/app:1.0", { layers: [{ files: { "app.txt": "app" } }] });
  d["cli"] = await seedImage(staging, "staging/tools/cli:v1", { layers: [{ files: { "cli.txt": "cli" } }] });
  const registries = `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod.host}/prod\n`;
  await writeFile(join(HOST_WS, "promoter-manifest.yaml"), `${registries}images:\n- name: app\n  dmap:\n    "${d["app"]}": ["1.0"]\n`);
  await mkdir(join(HOST_WS, "thin", "manifests", "tools"), { recursive: true });
  await mkdir(join(HOST_WS, "thin", "images", "tools"), { recursive: true });
  await writeFile(join(HOST_WS, "thin", "manifests", "tools", "promoter-manifest.yaml"), registries);
  await writeFile(join(HOST_WS, "thin", "images", "tools", "images.yaml"), `- name: tools/cli\n  dmap:\n    ${d["cli"]}: [v1]\n`);
}, 600_000);

afterAll(async () => {
  await ws.bazel("shutdown").catch(() => undefined);
  await Promise.all([staging?.stop(), prod?.stop()]);
  checkout.unmount();
});

describe("oci_promote", () => {
  it("docs/rules.md's oci_promote example is e2e/promote/BUILD.bazel", async () => {
    const rules = await readFile(join(REPO_ROOT, "docs", "rules.md"), "utf8");
    const m = /<!-- example:oci_promote -->\s*```starlark\n([\s\S]*?)```/.exec(rules);
    expect(m, "docs/rules.md has a starlark block after <!-- example:oci_promote -->").not.toBeNull();
    const build = await readFile(join(HOST_WS, "BUILD.bazel"), "utf8");
    expect(m![1]).toBe(build.slice(build.indexOf("\nload(") + 1));
  });

  it("bazel test validates both manifests and sends no request to any registry", async () => {
    const marks = [await logMark(staging), await logMark(prod)];
    const r = await ws.mustBazel("test //:all");
    const out = r.stdout + r.stderr;
    for (const t of ["promote_test", "promote_thin_test"]) expect(out).toMatch(new RegExp(`//:${t}\\s+PASSED`));
    expect(await servedSince(staging, marks[0]!)).toEqual([]);
    expect(await servedSince(prod, marks[1]!)).toEqual([]);
  });

  it("a manifest with mistakes fails its test, each mistake with its file and line", async () => {
    const r = await ws.bazel("test //bad:all");
    expect(r.code).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/\/\/bad:bad_test\s+FAILED/);
    expect(out).toContain('bad/promoter-manifest.yaml:9: images[0].dmap["sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"]: invalid digest');
    expect(out).toMatch(/bad\/promoter-manifest\.yaml:10: images\[0\]\.dmap\["sha256:1{64}"\]\[0\]: invalid tag "not a tag"/);
  });

  it("bazel run //:promote is a dry run: it prints the plan and changes nothing", async () => {
    const r = await ws.bazel("run //:promote");
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^copy\\s+${prod.host}/prod/app:1\\.0\\s+${d["app"]!.slice(0, 19)}\\s+from ${staging.host}/staging/app$`, "m"));
    expect(r.stdout.trim().split("\n").at(-1)).toBe("1 edge: 1 to copy (dry run; --confirm to promote)");
    expect(await craneLs(`${prod.host}/prod/app`)).toEqual([]);
  });

  it("bazel run //:promote -- --confirm promotes; a second run does nothing", async () => {
    const r = await ws.bazel("run //:promote -- --confirm");
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("1 edge: 1 copied");
    expect((await mustRun(peer("crane"), ["digest", "--insecure", `${prod.host}/prod/app:1.0`])).stdout.trim()).toBe(d["app"]);
    const again = await ws.bazel("run //:promote -- --confirm");
    expect(again.code, again.stderr.slice(-3000)).toBe(0);
    expect(again.stdout.trim()).toBe("nothing to do: all 1 edge is already in place");
  });

  it("a thin manifest directory given as a filegroup promotes too", async () => {
    const r = await ws.bazel("run //:promote_thin -- --confirm");
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("1 edge: 1 copied");
    expect(await craneLs(`${prod.host}/prod/tools/cli`)).toEqual(["v1"]);
  });
});
