/**
 * A registry on loopback needs no --insecure (issue 9): as Docker and go-containerregistry do, ociutil
 * tries HTTPS on localhost, 127.0.0.0/8 and ::1 and falls back to plain HTTP when the server does not
 * speak TLS. A TLS registry on loopback is still used over TLS, and no other host ever falls back.
 * Real registries only: a plain one and a TLS one, both from the harness.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isLoopbackRegistry } from "../ociutil/remote/scheme.js";
import { Registry } from "../ociutil/remote/registry.js";
import { makeTempDir, mustRun, peer, removeTempDir, runOciutil, seedImage, startRegistry, type TestRegistry } from "./harness/index.js";

let plain: TestRegistry;
let tls: TestRegistry;
let tmp: string;
let digest: string;

beforeAll(async () => {
  [plain, tls] = await Promise.all([startRegistry(), startRegistry({ tls: true })]);
  tmp = await makeTempDir("loopback");
  digest = await seedImage(plain, "loop/base:v1", { layers: [{ files: { "etc/loop": "loop\n" } }] });
  await seedImage(tls, "loop/base:v1", { layers: [{ files: { "etc/loop": "loop\n" } }] });
});
afterAll(async () => {
  await plain?.stop();
  await tls?.stop();
  await removeTempDir(tmp);
});

describe("which hosts are loopback", () => {
  it("localhost, 127.0.0.0/8 and ::1, with or without a port", () => {
    for (const h of ["localhost", "localhost:5000", "LOCALHOST:5000", "127.0.0.1", "127.0.0.1:5000", "127.1.2.3:80", "[::1]:5000", "::1"]) {
      expect(isLoopbackRegistry(h), h).toBe(true);
    }
  });
  it("nothing else: not private ranges, not names that merely start like loopback", () => {
    for (const h of ["registry.example", "10.0.0.1:5000", "192.168.1.2", "127.0.0.1.nip.io", "localhost.example:5000", "[::2]:5000", "128.0.0.1"]) {
      expect(isLoopbackRegistry(h), h).toBe(false);
    }
  });
  it("a registry that is not loopback is spoken to over HTTPS only", () => {
    const r = new Registry("registry.example:5000", { credentials: { lookup: async () => undefined }, plainHttp: false });
    expect(r.base.protocol).toBe("https:");
  });
});

describe("a plain-HTTP registry on loopback, without --insecure", () => {
  it("pull, push and copy work", async () => {
    const out = join(tmp, "pulled");
    const pulled = await runOciutil(["pull", `${plain.host}/loop/base:v1`, "--output", out]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout.trim()).toBe(`${plain.host}/loop/base@${digest}`);
    const pushed = await runOciutil(["push", out, `${plain.host}/loop/pushed:v1`]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const copied = await runOciutil(["copy", `${plain.host}/loop/pushed:v1`, `${plain.host}/loop/copied:v1`]);
    expect(copied.code, copied.stderr).toBe(0);
    expect((await mustRun(peer("crane"), ["digest", "--insecure", `${plain.host}/loop/copied:v1`])).stdout.trim()).toBe(digest);
  });

  it("named localhost:PORT too", async () => {
    const port = plain.host.split(":")[1]!;
    const r = await runOciutil(["pull", "--shallow", `localhost:${port}/loop/base:v1`, "--output", join(tmp, "by-name")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`localhost:${port}/loop/base@${digest}`);
  });
});

describe("a TLS registry on loopback", () => {
  it("is used over TLS when its certificate is trusted", async () => {
    const r = await runOciutil(["pull", "--shallow", `${tls.host}/loop/base:v1`, "--output", join(tmp, "tls")], {
      env: { NODE_EXTRA_CA_CERTS: tls.caCertPath! },
    });
    expect(r.code, r.stderr).toBe(0);
  });

  it("is never downgraded to plain HTTP: an untrusted certificate is reported, with how to trust it", async () => {
    const r = await runOciutil(["pull", "--shallow", `${tls.host}/loop/base:v1`, "--output", join(tmp, "untrusted")]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^ociutil: .*https:\/\/127\.0\.0\.1:\d+\/v2\/.*NODE_EXTRA_CA_CERTS/);
    const log = await readFile(join(tls.dir, "registry.log"), "utf8");
    expect(log, "no plain-HTTP request may reach a TLS registry").not.toMatch(/HTTP request to an HTTPS server/);
  });
});
