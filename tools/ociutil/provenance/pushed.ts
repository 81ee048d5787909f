/**
 * Records of what a push or copy put into a registry, in the shapes their readers already parse:
 *
 * - image refs (crane's and ko's `--image-refs`): `registry/repo@sha256:...` a line, the pushed
 *   manifest first, then, for an index, each manifest under it (parent before children);
 * - Cloud Build (kaniko's `$BUILDER_OUTPUT/images`): one `{"name":"<registry/repo:tag>","digest":"sha256:..."}`
 *   line per tag pushed;
 * - Tekton results read by Tekton Chains: `IMAGE_URL` (`registry/repo`), `IMAGE_DIGEST` and `IMAGES`
 *   (every ref, one a line), with no trailing newline, because Tekton stores result files verbatim.
 *
 * The name and the digest in every record come from the same push, so a record never pairs a
 * repository with a digest it does not hold (the failure Tekton's runtime ImageIDs have).
 */
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import type { Digest } from "../name/digest.js";
import { writeFileAtomic } from "../util/fsutil.js";
import { OciError, UsageError } from "../util/errors.js";

/** What one push or copy sent, known before the first byte is sent. */
export interface Pushed {
  /** "registry/repo". */
  repository: string;
  /** The manifest pushed under `tags` (an image or an index). */
  digest: Digest;
  mediaType: string;
  /** Its size in bytes (for a descriptor of it). */
  size: number;
  /** The tags it was pushed under; empty when pushed by digest only. */
  tags: string[];
  /** Every manifest digest: `digest` first, then each manifest under an index, parent before children. */
  manifests: Digest[];
}

/** Where to write the records; each is optional. */
export interface RecordTargets {
  imageRefs?: string;
  /** `$BUILDER_OUTPUT` (a directory); `images` is written inside it. */
  builderOutput?: string;
  tektonResults?: string;
}

export interface TektonResults {
  IMAGE_URL: string;
  IMAGE_DIGEST: string;
  IMAGES: string;
}

export interface BuiltImage {
  name: string;
  digest: Digest;
}

export interface Records {
  imageRefs: string[];
  builderOutputImages: BuiltImage[];
  tektonResults: TektonResults;
}

export function records(p: Pushed): Records {
  const imageRefs = p.manifests.map((d) => `${p.repository}@${d}`);
  // A push by digest has no tag: its name is the digest reference it was pushed as.
  const names = p.tags.length > 0 ? p.tags.map((t) => `${p.repository}:${t}`) : [`${p.repository}@${p.digest}`];
  return {
    imageRefs,
    builderOutputImages: names.map((name) => ({ name, digest: p.digest })),
    tektonResults: { IMAGE_URL: p.repository, IMAGE_DIGEST: p.digest, IMAGES: imageRefs.join("\n") },
  };
}

export function imageRefsFile(r: Records): string {
  return r.imageRefs.map((ref) => `${ref}\n`).join("");
}

/** kaniko writes these with Go's json.Encoder: keys in this order, one object and "\n" per line. */
export function builderOutputImagesFile(r: Records): string {
  return r.builderOutputImages.map((i) => `${JSON.stringify({ name: i.name, digest: i.digest })}\n`).join("");
}

/**
 * Tekton returns a step's results in the container's termination message, a JSON array of
 * `{"key","value","type"}` entries capped at 4096 bytes for the whole step, which Tekton also uses
 * (a `StartedAt` entry at least). This is the size our results take in it, with that entry.
 */
export const TEKTON_MESSAGE_LIMIT = 4096;
const STARTED_AT = { key: "StartedAt", value: "2006-01-02T15:04:05.000Z", type: 3 };

export function tektonMessageSize(results: TektonResults): number {
  const entries = Object.entries(results).map(([key, value]) => ({ key, value, type: 1 }));
  return Buffer.byteLength(JSON.stringify([...entries, STARTED_AT]));
}

/** Refuses, before anything is pushed, results that Tekton would reject after the push. */
export function checkTektonBudget(results: TektonResults): void {
  const size = tektonMessageSize(results);
  if (size > TEKTON_MESSAGE_LIMIT) {
    throw new OciError(
      `--tekton-results: the results (${results.IMAGES.split("\n").length} image refs) take ${size} bytes of the step's ` +
        `termination message, more than Tekton's ${TEKTON_MESSAGE_LIMIT}; use --image-refs for a list this long`,
    );
  }
}

/** Checks that the records can be written (directories exist), so a bad flag fails before the push. */
export async function checkTargets(t: RecordTargets): Promise<void> {
  if (t.imageRefs !== undefined) await mustBeDir(path.dirname(path.resolve(t.imageRefs)), `--image-refs ${t.imageRefs}: its directory`);
  if (t.tektonResults !== undefined) await mustBeDir(t.tektonResults, `--tekton-results ${t.tektonResults}`);
  if (t.builderOutput !== undefined) {
    // Cloud Build mounts it; create it when missing, as a step running elsewhere would need.
    await mkdir(t.builderOutput, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      throw new OciError(`$BUILDER_OUTPUT ${t.builderOutput}: cannot create it (${err.code ?? err.message})`);
    });
    await mustBeDir(t.builderOutput, `$BUILDER_OUTPUT ${t.builderOutput}`);
  }
}

async function mustBeDir(dir: string, what: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (st === undefined) throw new UsageError(`${what} does not exist`);
  if (!st.isDirectory()) throw new UsageError(`${what} is not a directory`);
}

/** Writes every record asked for, each file complete or absent (temp file, then rename). */
export async function writeRecords(r: Records, t: RecordTargets): Promise<void> {
  if (t.imageRefs !== undefined) await writeFileAtomic(t.imageRefs, imageRefsFile(r));
  if (t.builderOutput !== undefined) await writeFileAtomic(path.join(t.builderOutput, "images"), builderOutputImagesFile(r));
  if (t.tektonResults !== undefined) {
    for (const [name, value] of Object.entries(r.tektonResults)) await writeFileAtomic(path.join(t.tektonResults, name), value);
  }
}
