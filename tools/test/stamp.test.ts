/**
 * `ociutil stamp` and the `--status` of `ociutil image`: `{{KEY}}` from Bazel's workspace status files
 * (the examples of docs/cli/stamp.md). Unstamped, a value with a placeholder is left out; stamped, a
 * missing key is one error line that never prints a value.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDir, runOciutil } from "./harness/index.js";

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir("stamp");
  await writeFile(join(tmp, "stable-status.txt"), "STABLE_VERSION 1.2.3\nBUILD_USER secret-user\n");
  await writeFile(join(tmp, "volatile-status.txt"), "BUILD_TIMESTAMP 1796082601\n");
});
afterAll(async () => {
  await removeTempDir(tmp);
});

async function stamp(args: string[]): Promise<{ code: number; stderr: string; out: string | undefined }> {
  const out = join(tmp, `out-${Math.random().toString(36).slice(2)}.txt`);
  const r = await runOciutil(["stamp", ...args, "-o", out]);
  return { code: r.code, stderr: r.stderr, out: await readFile(out, "utf8").catch(() => undefined) };
}

describe("ociutil stamp", () => {
  it("stamped: each value expanded, one a line; unstamped: values with a placeholder left out", async () => {
    const stable = join(tmp, "stable-status.txt");
    const volatile = join(tmp, "volatile-status.txt");
    expect((await stamp(["--status", stable, "--status", volatile, "--value", "{{STABLE_VERSION}}", "--value", "latest", "--value", "v{{STABLE_VERSION}}-{{BUILD_TIMESTAMP}}"])).out).toBe(
      "1.2.3\nlatest\nv1.2.3-1796082601\n",
    );
    expect((await stamp(["--value", "{{STABLE_VERSION}}", "--value", "latest"])).out).toBe("latest\n");
  });

  it("a key no status file has: one line naming it and the keys, no value, no file", async () => {
    const r = await stamp(["--status", join(tmp, "stable-status.txt"), "--value", "{{STABLE_GIT_COMMIT}}"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/\{\{STABLE_GIT_COMMIT\}\} has no value: --workspace_status_command printed no STABLE_GIT_COMMIT line \(keys: BUILD_USER, STABLE_VERSION\)/);
    expect(r.stderr).not.toContain("secret-user");
    expect(r.out).toBeUndefined();
  });
});

describe("ociutil image --status", () => {
  async function image(status: string[]): Promise<{ config: any; manifest: any }> {
    const spec = join(tmp, "spec.json");
    await writeFile(
      spec,
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        created: "{{BUILD_TIMESTAMP}}",
        labels: { "org.opencontainers.image.version": "{{STABLE_VERSION}}", fixed: "yes" },
        annotations: { "org.opencontainers.image.created": "{{BUILD_TIMESTAMP}}" },
      }),
    );
    const out = (n: string) => join(tmp, n);
    const r = await runOciutil(["image", "--spec", spec, ...status.flatMap((s) => ["--status", s]), "--output-manifest", out("m.json"), "--output-config", out("c.json"), "--output-descriptor", out("d.json"), "--output-digest", out("digest")]);
    expect(r.code, r.stderr).toBe(0);
    const digest = await readFile(out("digest"), "utf8");
    expect(digest).toBe(JSON.parse(await readFile(out("d.json"), "utf8")).digest);
    return { config: JSON.parse(await readFile(out("c.json"), "utf8")), manifest: JSON.parse(await readFile(out("m.json"), "utf8")) };
  }

  it("stamped: labels and created expanded, BUILD_TIMESTAMP seconds as RFC 3339 UTC", async () => {
    const { config, manifest } = await image([join(tmp, "stable-status.txt"), join(tmp, "volatile-status.txt")]);
    expect(config.created).toBe("2026-11-30T23:50:01Z");
    expect(config.config.Labels).toEqual({ "org.opencontainers.image.version": "1.2.3", fixed: "yes" });
    expect(manifest.annotations).toEqual({ "org.opencontainers.image.created": "2026-11-30T23:50:01Z" });
  });

  it("unstamped: what needs a stamp value is left out, created stays the epoch", async () => {
    const { config, manifest } = await image([]);
    expect(config.created).toBe("1970-01-01T00:00:00Z");
    expect(config.config.Labels).toEqual({ fixed: "yes" });
    expect(manifest.annotations).toBeUndefined();
  });
});
