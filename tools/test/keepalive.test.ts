/**
 * Requests share connections. undici closes the connection after every HEAD unless the request says
 * otherwise, and a push or a promotion plan makes a HEAD per blob or manifest: each would pay a new
 * TCP connection (and a TLS handshake on a real registry). A real registry behind the fault proxy,
 * which counts the connections clients open (no fault injected).
 */
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildTestImage, makeTempDir, removeTempDir, runOciutil, startFaultProxy, startRegistry, type FaultProxy, type TestRegistry } from "./harness/index.js";

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host, []);
  tmp = await makeTempDir("keepalive");
}, 60_000);
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await removeTempDir(tmp);
});

it("a push of blobs that are all there already: one HEAD each, all over one connection (and the probe's)", async () => {
  const layout = join(tmp, "layout");
  await buildTestImage(layout, { layers: Array.from({ length: 10 }, (_, i) => ({ files: { [`f${i}.txt`]: `layer ${i}` } })) });
  const first = await runOciutil(["push", "--insecure", "--jobs", "1", layout, `${proxy.host}/ka/app:v1`]);
  expect(first.code, first.stderr).toBe(0);

  proxy.requests.length = 0;
  const before = proxy.connections;
  const again = await runOciutil(["push", "--insecure", "--jobs", "1", layout, `${proxy.host}/ka/app:v1`]);
  expect(again.code, again.stderr).toBe(0);
  const heads = proxy.requests.filter((q) => q.method === "HEAD").length;
  expect(heads).toBeGreaterThanOrEqual(11); // the config and ten layers
  // The loopback probe may take a connection of its own; the HEADs share one.
  expect(proxy.connections - before).toBeLessThanOrEqual(3);
});
