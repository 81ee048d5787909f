/**
 * The content graph under one manifest: every manifest (an index's children, recursively) and every
 * blob (configs and layers) it references, each once, in the order a push must send them.
 */
import type { Manifest } from "../spec/manifest.js";
import type { Descriptor } from "../spec/schemas.js";
import { VerificationError } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";

export interface BlobRef {
  descriptor: Descriptor;
  role: "config" | "layer";
}

export interface ImageTree {
  root: Manifest;
  /** Every manifest, children before the indexes that list them; the root is last. */
  manifests: Manifest[];
  /** Configs and layers, each digest once. */
  blobs: BlobRef[];
}

export type ManifestLoader = (desc: Descriptor) => Promise<Manifest>;

/** Loads the graph under `root`. `include` picks which children of an index are followed. */
export async function loadTree(root: Manifest, load: ManifestLoader, include: (child: Descriptor) => boolean = () => true): Promise<ImageTree> {
  const manifests: Manifest[] = [];
  const blobs = new Map<string, BlobRef>();
  const seen = new Set<string>();

  const visit = async (m: Manifest): Promise<void> => {
    if (m.kind === "index") {
      const children = m === root ? m.index.manifests.filter(include) : m.index.manifests;
      const loaded: Manifest[] = new Array(children.length);
      await forEachLimit(children, 8, async (desc, i) => {
        const child = await load(desc);
        if (child.bytes.length !== desc.size) {
          throw new VerificationError(`manifest ${desc.digest} has ${child.bytes.length} bytes, its descriptor says ${desc.size}`);
        }
        loaded[i] = child;
      });
      for (const child of loaded) {
        if (!seen.has(child.digest)) {
          seen.add(child.digest);
          await visit(child);
        }
      }
    } else {
      const { config, layers } = m.manifest;
      if (!blobs.has(config.digest)) blobs.set(config.digest, { descriptor: config, role: "config" });
      for (const layer of layers) if (!blobs.has(layer.digest)) blobs.set(layer.digest, { descriptor: layer, role: "layer" });
    }
    manifests.push(m);
  };
  seen.add(root.digest);
  await visit(root);
  return { root, manifests, blobs: [...blobs.values()] };
}

/**
 * Every manifest digest of the tree, the root first and each index before the manifests it lists
 * (in its order): the order crane and ko write `--image-refs` in.
 */
export function parentFirst(tree: ImageTree): Manifest["digest"][] {
  const byDigest = new Map(tree.manifests.map((m) => [m.digest, m]));
  const out: Manifest["digest"][] = [];
  const seen = new Set<string>();
  const visit = (m: Manifest): void => {
    if (seen.has(m.digest)) return;
    seen.add(m.digest);
    out.push(m.digest);
    if (m.kind !== "index") return;
    for (const child of m.index.manifests) {
      const loaded = byDigest.get(child.digest);
      if (loaded !== undefined) visit(loaded); // children the tree did not follow are not pushed
    }
  };
  visit(tree.root);
  return out;
}
