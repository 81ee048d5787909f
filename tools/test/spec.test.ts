import { describe, expect, it } from "vitest";
import { parseChallenges } from "../ociutil/remote/challenge.js";
import { parseManifest, parsePlatform, platformMatches } from "../ociutil/spec/manifest.js";
import { MediaType } from "../ociutil/spec/mediatypes.js";
import { digestOf } from "../ociutil/name/digest.js";

const D = `sha256:${"c".repeat(64)}`;

describe("parseManifest", () => {
  it("keeps the exact bytes and unknown fields, and names the digest of those bytes", () => {
    // Odd spacing and key order and an unknown field: re-serializing would change the digest.
    const text = `{"schemaVersion":2,  "mediaType":"${MediaType.OciImageManifest}","x-extra":{"b":1,"a":2},
      "config":{"mediaType":"${MediaType.OciImageConfig}","digest":"${D}","size":2},"layers":[]}`;
    const bytes = Buffer.from(text);
    const m = parseManifest(bytes, undefined, "test");
    expect(m.kind).toBe("image");
    expect(m.bytes).toBe(bytes);
    expect(m.digest).toBe(digestOf(bytes));
    expect(m.kind === "image" && (m.manifest as Record<string, unknown>)["x-extra"]).toEqual({ b: 1, a: 2 });
  });

  it("reads Docker schema2 manifests and lists by their media type", () => {
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [] }));
    expect(parseManifest(list, undefined, "t")).toMatchObject({ kind: "index", mediaType: MediaType.DockerManifestList });
    const img = Buffer.from(
      JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.DockerConfig, digest: D, size: 1 }, layers: [] }),
    );
    expect(parseManifest(img, MediaType.DockerManifest, "t")).toMatchObject({ kind: "image", mediaType: MediaType.DockerManifest });
  });

  it.each([
    ["not json", "{", /malformed manifest t: not JSON/],
    ["schema1", JSON.stringify({ schemaVersion: 1 }), /schema1 is not supported/],
    ["bad digest", JSON.stringify({ schemaVersion: 2, config: { mediaType: "a/b", digest: "sha256:../x", size: 1 }, layers: [] }), /config\.digest/],
    ["negative size", JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "a/b", digest: D, size: -1 }] }), /manifests\.0\.size/],
    ["neither", JSON.stringify({ schemaVersion: 2 }), /neither an image manifest nor an index/],
    ["array", "[]", /not a JSON object/],
  ])("rejects %s with one line", (_name, text, message) => {
    expect(() => parseManifest(Buffer.from(text), undefined, "t")).toThrow(message);
  });
});

describe("platforms", () => {
  it("parses os/arch[/variant] and matches arm64 to v8", () => {
    expect(parsePlatform("linux/arm64/v8")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(platformMatches({ os: "linux", architecture: "arm64" }, parsePlatform("linux/arm64/v8"))).toBe(true);
    expect(platformMatches({ os: "linux", architecture: "arm", variant: "v7" }, parsePlatform("linux/arm/v6"))).toBe(false);
    expect(platformMatches({ os: "linux", architecture: "amd64" }, parsePlatform("linux/amd64"))).toBe(true);
    expect(() => parsePlatform("linux")).toThrow(/expected os\/arch/);
  });
});

describe("WWW-Authenticate", () => {
  it("parses Bearer and Basic challenges with quoted values", () => {
    expect(
      parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'),
    ).toEqual([{ scheme: "bearer", params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" } }]);
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: "basic", params: { realm: "Registry Realm" } }]);
    expect(parseChallenges('Basic realm="x", Bearer realm="y",service=z')).toEqual([
      { scheme: "basic", params: { realm: "x" } },
      { scheme: "bearer", params: { realm: "y", service: "z" } },
    ]);
  });
});
