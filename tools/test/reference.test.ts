import { describe, expect, it } from "vitest";
import { formatReference, identifier, isLoopbackRegistry, parseReference } from "../ociutil/name/reference.js";
import { digestOf, parseDigest } from "../ociutil/name/digest.js";

const D256 = `sha256:${"a".repeat(64)}`;
const D512 = `sha512:${"b".repeat(128)}`;

describe("parseReference", () => {
  it("a name:tag@digest reference holds no credentials", () => {
    expect(parseReference(`busybox:1@${D256}`)).toMatchObject({ registry: "docker.io", repository: "library/busybox", tag: "1", digest: D256 });
    expect(parseReference(`localhost:5000/a:b@${D256}`)).toMatchObject({ registry: "localhost:5000", repository: "a", digest: D256 });
  });

  it.each([
    ["alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["alpine:3.20", { registry: "docker.io", repository: "library/alpine", tag: "3.20" }],
    ["user/app", { registry: "docker.io", repository: "user/app", tag: "latest" }],
    ["docker.io/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["index.docker.io/library/alpine:1", { registry: "docker.io", repository: "library/alpine", tag: "1" }],
    ["localhost/app", { registry: "localhost", repository: "app", tag: "latest" }],
    ["localhost:5000/a/b/c:v1.2_3-x", { registry: "localhost:5000", repository: "a/b/c", tag: "v1.2_3-x" }],
    ["127.0.0.1:5000/app", { registry: "127.0.0.1:5000", repository: "app", tag: "latest" }],
    ["[::1]:5000/app:t", { registry: "[::1]:5000", repository: "app", tag: "t" }],
    ["[fe80::1]/app", { registry: "[fe80::1]", repository: "app", tag: "latest" }],
    ["ghcr.io/org/app__x.y-z", { registry: "ghcr.io", repository: "org/app__x.y-z", tag: "latest" }],
    [`gcr.io/p/app@${D256}`, { registry: "gcr.io", repository: "p/app", digest: D256 }],
    [`gcr.io/p/app:v1@${D512}`, { registry: "gcr.io", repository: "p/app", tag: "v1", digest: D512 }],
    [`alpine@${D256}`, { registry: "docker.io", repository: "library/alpine", digest: D256 }],
  ])("%s", (input, want) => {
    expect(parseReference(input)).toEqual(want);
  });

  it.each([
    ["", /empty/],
    ["ok/Bad", /bad repository component "Bad"/],
    ["UPPER", /bad repository component "UPPER"/],
    ["repo:", /bad tag ""/],
    ["repo:-x", /bad tag "-x"/],
    ["repo:" + "t".repeat(129), /bad tag/],
    ["a//b", /bad repository component ""/],
    ["a/b-/c", /bad repository component "b-"/],
    ["host:99999/app", /bad registry port "99999"/],
    ["host:x/app", /bad registry port "x"/],
    ["[::1/app", /unclosed IPv6 bracket/],
    ["-bad.io/app", /bad registry host "-bad.io"/],
    ["app@sha256:abc", /bad digest "sha256:abc"/],
    [`app@md5:${"a".repeat(32)}`, /unsupported algorithm "md5"/],
    [`app@sha256:${"A".repeat(64)}`, /lowercase hex/],
    ["app@sha256:../../../etc/passwd", /bad digest/],
    ["has space", /whitespace/],
  ])("rejects %j naming the bad part", (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });

  it("formats canonically and asks the registry for digest before tag", () => {
    const ref = parseReference(`localhost:5000/app:v1@${D256}`);
    expect(formatReference(ref)).toBe(`localhost:5000/app:v1@${D256}`);
    expect(identifier(ref)).toBe(D256);
    expect(identifier(parseReference("localhost:5000/app:v1"))).toBe("v1");
  });

  it("knows loopback registries", () => {
    expect(isLoopbackRegistry("localhost:5000")).toBe(true);
    expect(isLoopbackRegistry("127.0.0.1:5000")).toBe(true);
    expect(isLoopbackRegistry("[::1]:5000")).toBe(true);
    expect(isLoopbackRegistry("ghcr.io")).toBe(false);
    expect(isLoopbackRegistry("localhost.example.com")).toBe(false);
  });
});

describe("error lines for references (found by property-names-spec.test.ts)", () => {
  it("do not repeat a password before an '@' that no digest follows", () => {
    expect(() => parseReference("a:S3cr!=0a0~@0")).toThrow('invalid image reference "<redacted>@0": bad digest "0"');
    expect(() => parseReference("https://u:hunter22@host")).toThrow(/^invalid image reference "https:\/\/<redacted>@host"/);
  });
  it("quote a long input clipped and escaped, not whole", () => {
    const long = `${"a/".repeat(1000)}A`;
    let message = "";
    try {
      parseReference(long);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid image reference "[a/]+\.\.\.": bad repository component "A"/);
    expect(message.length).toBeLessThan(400);
    expect(() => parseReference("app:v1\n-rwsr-xr-x")).toThrow('invalid image reference "app:v1\\n-rwsr-xr-x": it contains whitespace');
  });
});

describe("digests", () => {
  it("accepts sha256 and sha512 of the right length", () => {
    expect(parseDigest(D256)).toBe(D256);
    expect(parseDigest(D512)).toBe(D512);
  });
  it.each([`sha256:${"a".repeat(63)}`, `sha512:${"a".repeat(64)}`, "sha256", `sha256:${"g".repeat(64)}`, `SHA256:${"a".repeat(64)}`])("rejects %s", (d) => {
    expect(() => parseDigest(d)).toThrow(/invalid digest/);
  });
  it("hashes bytes", () => {
    expect(digestOf(Buffer.from(""))).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});
