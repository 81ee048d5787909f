/**
 * The blob download path, in process, against a real registry: sockets that reuse their read
 * buffers (remote/reused-read-buffers.ts), the sink handler (transport.ts), the staging buffers and
 * the write/hash workers (layout/blob-writer.ts). Reused buffers are only safe while the contract in
 * reused-read-buffers.ts holds, so these tests squeeze it: tiny sets of staging buffers that keep the
 * receive gate closed most of the time, several downloads at once, a gate held shut, a sink that
 * refuses bytes. Every byte is checked against its digest, so an overwritten read buffer fails them.
 */
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BlobWriter } from "../ociutil/layout/blob-writer.js";
import { ImageLayout } from "../ociutil/layout/layout.js";
import { STAGING_BUFFER_SIZE, StagingBuffers, type StagingBuffer } from "../ociutil/layout/staging-buffers.js";
import type { Digest } from "../ociutil/name/digest.js";
import { RegistryClient } from "../ociutil/remote/client.js";
import { READ_BUFFER_SIZE } from "../ociutil/remote/reused-read-buffers.js";
import type { RemoteRepository } from "../ociutil/remote/registry.js";
import type { BodySink } from "../ociutil/util/body-sink.js";
import { blobReceiveGate } from "../ociutil/util/receive-gate.js";
import { blobSize, buildTestImage, makeTempDir, pushWithCrane, removeTempDir, startRegistry, type TestRegistry } from "./harness/index.js";

let registry: TestRegistry;
let tmp: string;
let repo: RemoteRepository;
/** Four layers of random bytes (incompressible, so the blobs are as big as the data). */
let blobs: Array<{ digest: Digest; size: number }>;
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await makeTempDir("blob-receive");
  const src = join(tmp, "src");
  const built = await buildTestImage(src, {
    layers: [{ randomBytes: 40_000_000 }, { randomBytes: 9_000_000 }, { randomBytes: 7_000_000 }, { randomBytes: 3_000_000 }],
  });
  await pushWithCrane(src, `${registry.host}/receive/app:v1`);
  blobs = await Promise.all(built.layerDigests.map(async (d) => ({ digest: d as Digest, size: await blobSize(src, d) })));
  repo = new RegistryClient({ plainHttp: true }).repository({ registry: registry.host, repository: "receive/app" });
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  await removeTempDir(tmp);
});
afterEach(() => {
  blobReceiveGate.open(); // never leave the process-wide gate shut for the next test
});

/** Counts how often the process-wide gate closes while `fn` runs. */
async function countingGateCloses<T>(fn: () => Promise<T>): Promise<{ result: T; closes: number }> {
  const close = blobReceiveGate.close;
  let closes = 0;
  blobReceiveGate.close = function (this: typeof blobReceiveGate) {
    if (!this.closed) closes++;
    close.call(this);
  };
  try {
    return { result: await fn(), closes };
  } finally {
    blobReceiveGate.close = close;
  }
}

async function sha256File(path: string): Promise<string> {
  return `sha256:${createHash("sha256").update(await readFile(path)).digest("hex")}`;
}

async function download(blob: { digest: Digest; size: number }, staging: StagingBuffers): Promise<string> {
  const path = join(tmp, `blob-${++n}`);
  const writer = await BlobWriter.create(path, blob, `blob ${blob.digest}`, staging);
  try {
    await repo.fetchBlob(blob.digest, writer);
  } catch (err) {
    writer.fail(err as Error);
  }
  await writer.done;
  return path;
}

describe("blob downloads into reused buffers", () => {
  it("arrive intact when one buffer on its way to disk already closes the gate", async () => {
    // A disk slower than the socket, whatever the machine's speed: a buffer written to disk that comes
    // back while the gate is open is held until the next one has been taken (then released on the
    // next turn of the event loop), so each new buffer finds the set full and closes the gate. The
    // last buffer has no next one and comes back at once. How often the gate closes is then fixed by the blob's size, not by timing (a 5 ms
    // delay here once saw exactly 5 closes on a busy machine).
    const buffers = Math.ceil(blobs[0]!.size / STAGING_BUFFER_SIZE);
    const staging = new (class extends StagingBuffers {
      private taken = 0;
      private held: StagingBuffer | undefined;
      override take(): StagingBuffer {
        const buffer = super.take();
        this.taken++;
        const held = this.held;
        this.held = undefined;
        if (held !== undefined) setImmediate(() => super.release(held));
        return buffer;
      }
      override release(buffer: StagingBuffer): void {
        // Held only while the gate is open: a closed gate waits for exactly this release.
        if (this.taken < buffers && this.held === undefined && !blobReceiveGate.closed) this.held = buffer;
        else super.release(buffer);
      }
    })(1, blobReceiveGate);
    const { result: path, closes } = await countingGateCloses(() => download(blobs[0]!, staging));
    expect(await sha256File(path)).toBe(blobs[0]!.digest);
    // The gate really did hold the socket back, many times: every buffer taken while it was open
    // closed it, and while closed the socket delivers at most the one read (up to 1 MiB) it already
    // had, which starts at most one more buffer: so at least every second buffer closed it.
    expect(closes).toBeGreaterThanOrEqual(Math.floor((buffers - 1) / 2));
    // cap (1 in flight + 1 being filled) plus at most one read that was already under way
    expect(staging.buffersCreated).toBeLessThanOrEqual(3);
    expect(staging.buffersInUse).toBe(0);
  });

  it("arrive intact four at a time through one small set of buffers", async () => {
    const staging = new StagingBuffers(2, blobReceiveGate);
    const paths = await Promise.all(blobs.map((b) => download(b, staging)));
    for (const [i, path] of paths.entries()) expect(await sha256File(path)).toBe(blobs[i]!.digest);
    // 2 in flight + 4 being filled, plus one read under way per socket
    expect(staging.buffersCreated).toBeLessThanOrEqual(2 + 4 + 4);
    expect(staging.buffersInUse).toBe(0);
  });

  it("stop at the socket while the gate is closed, and resume intact when it opens", async () => {
    const hash = createHash("sha256");
    let received = 0;
    let receivedWhenClosed = 0;
    let resolveEnd!: () => void;
    let rejectEnd!: (err: Error) => void;
    const ended = new Promise<void>((resolve, reject) => {
      resolveEnd = resolve;
      rejectEnd = reject;
    });
    const sink: BodySink = {
      write(chunk) {
        hash.update(chunk); // must be consumed now: the memory is the socket's, reused for the next read
        received += chunk.length;
        if (receivedWhenClosed === 0 && received > 4 << 20) {
          receivedWhenClosed = received;
          blobReceiveGate.close();
        }
      },
      end: () => resolveEnd(),
      fail: (err) => rejectEnd(err),
    };
    await repo.fetchBlob(blobs[0]!.digest, sink);
    await new Promise((r) => setTimeout(r, 300));
    // While closed, the socket delivered at most the read it already had.
    expect(received - receivedWhenClosed).toBeLessThanOrEqual(READ_BUFFER_SIZE);
    expect(received).toBeLessThan(blobs[0]!.size);
    blobReceiveGate.open();
    await ended;
    expect(received).toBe(blobs[0]!.size);
    expect(`sha256:${hash.digest("hex")}`).toBe(blobs[0]!.digest);
  });

  it("end with one error when the body is longer than the descriptor says, and the agent stays usable", async () => {
    const staging = new StagingBuffers(4, blobReceiveGate);
    const short = { digest: blobs[1]!.digest, size: blobs[1]!.size - 1 };
    await expect(download(short, staging)).rejects.toThrow(`more than the ${short.size} bytes its descriptor says`);
    expect(staging.buffersInUse).toBe(0);
    const path = await download(blobs[1]!, staging);
    expect(await sha256File(path)).toBe(blobs[1]!.digest);
  });

  it("report a missing blob as not found, and leave nothing in the layout", async () => {
    const layout = await ImageLayout.init(join(tmp, "layout-404"));
    const missing = `sha256:${"0".repeat(64)}` as Digest;
    await expect(
      layout.receiveBlob({ digest: missing, size: 10 }, `blob ${missing}`, (sink) => repo.fetchBlob(missing, sink)),
    ).rejects.toThrow(/not found/);
    expect(await readdir(join(tmp, "layout-404", "blobs", "sha256"))).toEqual([]);
  });
});
