/**
 * What a test registry served, read from its log (distribution logs a "response completed" line per
 * request, with the method, URI, status and bytes written). Counting bytes this way shows whether a
 * client fetched a blob, without timing anything.
 */
import { stat, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestRegistry } from "./registry.js";

export interface ServedRequest {
  method: string;
  uri: string;
  status: number;
  bytes: number;
}

/** The log's current length: pass it to `servedSince` to see only what came after. */
export async function logMark(reg: TestRegistry): Promise<number> {
  return (await stat(join(reg.dir, "registry.log"))).size;
}

export async function servedSince(reg: TestRegistry, mark = 0): Promise<ServedRequest[]> {
  const text = (await readFile(join(reg.dir, "registry.log"))).subarray(mark).toString("utf8");
  const out: ServedRequest[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes("response completed")) continue;
    const field = (name: string): string | undefined => new RegExp(`${name.replaceAll(".", "\\.")}="?([^" ]*)"?`).exec(line)?.[1];
    const method = field("http.request.method");
    const uri = field("http.request.uri");
    if (method === undefined || uri === undefined) continue;
    out.push({ method, uri, status: Number(field("http.response.status") ?? "0"), bytes: Number(field("http.response.written") ?? "0") });
  }
  return out;
}

/** Bytes of blob content the registry sent in GET responses since `mark` (200s and 206s). */
export async function blobBytesServed(reg: TestRegistry, mark = 0): Promise<number> {
  return (await servedSince(reg, mark))
    .filter((r) => r.method === "GET" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(r.uri) && (r.status === 200 || r.status === 206))
    .reduce((n, r) => n + r.bytes, 0);
}
