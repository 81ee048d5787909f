/**
 * `ociutil push --sbom FILE`: the SBOM `ociutil sbom` made of an image is attached to the pushed image
 * as an OCI 1.1 referrer, with the SBOM's own media type as its artifact type, where `oras discover`
 * finds it (through the referrers tag: distribution 2.8 has no referrers API). A real registry, oras
 * and crane check it; an SBOM of another image, or a file that is no SBOM, is refused before the push.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, makeTempDir, mustRun, peer, removeTempDir, runOciutil, startRegistry, type TestRegistry } from "./harness/index.js";

let registry: TestRegistry;
let tmp: string;
let layout: string;
let digest: string;

const DPKG = "Package: base-files\nStatus: install ok installed\nVersion: 13.5\nArchitecture: amd64\nDescription: base\n";

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await makeTempDir("sbom-attach");
  layout = join(tmp, "layout");
  digest = (await buildTestImage(layout, { refName: "v1", layers: [{ files: { "var/lib/dpkg/status": DPKG } }] })).manifestDigest;
});
afterAll(async () => {
  await registry?.stop();
  await removeTempDir(tmp);
});

async function discover(ref: string): Promise<Array<{ digest: string; artifactType: string }>> {
  return JSON.parse((await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", ref])).stdout).referrers;
}

describe("ociutil push --sbom", () => {
  it.each([
    ["spdx-json", "application/spdx+json"],
    ["cyclonedx-json", "application/vnd.cyclonedx+json"],
  ])("attaches a %s SBOM as a referrer oras discover lists, byte for byte", async (format, mediaType) => {
    const file = join(tmp, `sbom.${format}`);
    const made = await runOciutil(["sbom", `${layout}:v1`, "--format", format, "-o", file]);
    expect(made.code, made.stderr).toBe(0);
    const repo = `${registry.host}/sbom/${format}`;
    const r = await runOciutil(["push", "--ref-name", "v1", layout, `${repo}:v1`, "--sbom", file, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { sbom: { reference: string; artifactType: string } };
    expect(out.sbom.artifactType).toBe(mediaType);

    const referrers = await discover(`${repo}@${digest}`);
    expect(referrers).toHaveLength(1);
    expect(referrers[0]).toMatchObject({ artifactType: mediaType, digest: out.sbom.reference.split("@")[1] });
    const manifest = JSON.parse((await mustRun(peer("crane"), ["manifest", "--insecure", out.sbom.reference])).stdout) as {
      subject: { digest: string };
      layers: { mediaType: string; digest: string }[];
    };
    expect(manifest.subject.digest).toBe(digest);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([mediaType]);
    const blob = (await mustRun(peer("crane"), ["blob", "--insecure", `${repo}@${manifest.layers[0]!.digest}`])).stdout;
    expect(blob).toBe(await readFile(file, "utf8"));
  });

  it("refuses, before pushing anything, an SBOM of another image or a file that is no SBOM", async () => {
    const other = join(tmp, "other.spdx.json");
    const doc = JSON.parse((await runOciutil(["sbom", `${layout}:v1`])).stdout) as { packages: Array<{ SPDXID: string; checksums?: Array<{ checksumValue: string }> }> };
    doc.packages.find((p) => p.SPDXID === "SPDXRef-Image")!.checksums![0]!.checksumValue = "0".repeat(64);
    await writeFile(other, JSON.stringify(doc));
    const notSbom = join(tmp, "not.json");
    await writeFile(notSbom, '{"hello": "world"}');
    for (const [file, message] of [
      [other, `ociutil: --sbom: the SBOM describes sha256:${"0".repeat(64)}, not the pushed ${digest}`],
      [notSbom, `ociutil: --sbom ${notSbom}: neither an SPDX (spdxVersion) nor a CycloneDX (bomFormat) JSON document`],
    ] as const) {
      const repo = `${registry.host}/sbom/refused`;
      const r = await runOciutil(["push", "--ref-name", "v1", layout, `${repo}:v1`, "--sbom", file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`${message}\n`);
      const tags = await mustRun(peer("crane"), ["ls", "--insecure", repo]).catch((e: Error) => ({ stdout: "", err: e.message }));
      expect(tags.stdout.trim(), "nothing was pushed").toBe("");
    }
  });
});
