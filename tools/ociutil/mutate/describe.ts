/** Describing an existing layer file: its descriptor, and the digest of its uncompressed tar. */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { createHash } from "node:crypto";
import { createGunzip } from "node:zlib";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { MediaType } from "../spec/mediatypes.js";
import { OciError } from "../util/errors.js";

export interface DescribedLayer {
  descriptor: { mediaType: string; digest: string; size: number };
  diffID: string;
}

/** Describes a tar or tar+gzip file: its digest and size, and the digest of its uncompressed tar. */
export async function describeLayerFile(file: string): Promise<DescribedLayer> {
  const head = Buffer.alloc(4);
  const fh = await open(file, "r");
  let headLength: number;
  try {
    headLength = (await fh.read(head, 0, 4, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  const gzip = headLength >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const zstd = headLength >= 4 && head.readUInt32LE(0) === 0xfd2fb528;
  if (zstd) throw new OciError(`layer ${file} is zstd-compressed: give an uncompressed or gzip tar, or an oci_layer`);
  const outer = createHash("sha256");
  const inner = createHash("sha256");
  let size = 0;
  const sink = (h: ReturnType<typeof createHash>, count: boolean): Writable =>
    new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        if (count) size += chunk.length;
        cb();
      },
    });
  if (gzip) {
    // One read feeds both hashes: the file's, and (through gunzip) the tar's.
    const gunzip = createGunzip();
    const innerDone = pipeline(gunzip, sink(inner, false));
    await pipeline(createReadStream(file, { highWaterMark: 4 << 20 }), async function* (source) {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        outer.update(chunk);
        size += chunk.length;
        if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once("drain", r));
      }
      gunzip.end();
    });
    await innerDone;
  } else {
    await pipeline(createReadStream(file, { highWaterMark: 4 << 20 }), sink(outer, true));
  }
  const digest = `sha256:${outer.digest("hex")}`;
  return {
    descriptor: { mediaType: gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, digest, size },
    diffID: gzip ? `sha256:${inner.digest("hex")}` : digest,
  };
}

