/**
 * What the registry served during a step of the example, read from its log (registry-log.ts): the
 * numbers that show a shallow pull fetching manifests and configs only, and a push mounting the
 * base's blobs instead of uploading them.
 */
import type { BuiltIndex } from "../test/harness/images.js";
import { servedSince } from "../test/harness/registry-log.js";
import type { TestRegistry } from "../test/harness/registry.js";

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;

/** "3391 bytes", "2.0 MiB". */
export function bytes(n: number): string {
  if (n < 10 << 10) return `${n} bytes`;
  if (n < 10 << 20) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * What GETs of the base since `mark` returned, by kind: for the build, "3 manifests and 2 configs
 * (3391 bytes); no layer of the base's 6 (2.0 MiB)"; for the test, "3 layers of the base's 6 (1.0 MiB)".
 */
export async function describeServed(reg: TestRegistry, mark: number, built: BuiltIndex, phase: "build" | "test"): Promise<string> {
  const configs = new Set(built.images.map((i) => i.configDigest));
  const layers = new Map<string, number>();
  for (const i of built.images) for (const l of i.layerDescriptors) layers.set(l.digest, l.size);
  let manifests = 0;
  let configCount = 0;
  let metaBytes = 0;
  let layerCount = 0;
  let layerBytes = 0;
  for (const r of await servedSince(reg, mark)) {
    if (r.method !== "GET" || (r.status !== 200 && r.status !== 206)) continue;
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.uri)?.[1];
    if (/\/manifests\/[^/]+$/.test(r.uri)) {
      manifests++;
      metaBytes += r.bytes;
    } else if (blob !== undefined && configs.has(blob)) {
      configCount++;
      metaBytes += r.bytes;
    } else if (blob !== undefined && layers.has(blob)) {
      layerCount++;
      layerBytes += r.bytes;
    }
  }
  const allLayers = [...layers.values()].reduce((a, b) => a + b, 0);
  if (phase === "test") return `${plural(layerCount, "layer")} of the base's ${layers.size} (${bytes(layerBytes)})`;
  const meta = `${plural(manifests, "manifest")} and ${plural(configCount, "config")} (${bytes(metaBytes)})`;
  const none = layerCount === 0 ? "no layer" : `${plural(layerCount, "layer")} (${bytes(layerBytes)})`;
  return `${meta}; ${none} of the base's ${layers.size} (${bytes(allLayers)})`;
}

/** Blobs the registry mounted (201 to `POST .../blobs/uploads/?mount=...&from=...`) since `mark`. */
export async function mountedBlobs(reg: TestRegistry, mark: number): Promise<number> {
  return (await servedSince(reg, mark)).filter((r) => r.method === "POST" && /[?&]mount=/.test(r.uri) && r.status === 201).length;
}
