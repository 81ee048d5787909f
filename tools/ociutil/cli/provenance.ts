import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { ImageLayout } from "../layout/layout.js";
import { selectEntry } from "../ops/push.js";
import { formatPlatform, parseManifest } from "../spec/manifest.js";
import { parseBuildDescription, provenanceStatement, type Subject } from "../provenance/slsa.js";
import { writeFileAtomic } from "../util/fsutil.js";
import { OciError, UsageError } from "../util/errors.js";
import type { Digest } from "../name/digest.js";
import { digestOf } from "../name/digest.js";
import { readDescriptorFile } from "../mutate/common.js";
import { collect } from "../mutate/common.js";
import { expand, hasPlaceholder, readStatusFiles, stampedTime, type StampValues } from "../stamp/status.js";
import { action } from "./run.js";

interface ProvenanceFlags {
  build: string;
  layout?: string;
  refName?: string;
  descriptor?: string;
  manifest?: string;
  output?: string;
  status: string[];
}

export function registerProvenance(program: Command): void {
  program
    .command("provenance")
    .description("write an in-toto Statement v1 with an SLSA Provenance v1 predicate for a built image (docs/provenance.md)")
    .requiredOption("--build <file>", "JSON description of the build (docs/provenance.md#the-build-description)")
    .option("--layout <dir>", "the built image: subjects are its manifest and, for an index, each image under it")
    .option("--ref-name <name>", "with --layout: the index.json entry with this org.opencontainers.image.ref.name")
    .option("--descriptor <file>", "instead of --layout: the built manifest's descriptor (JSON, as `ociutil image`/`index` write it)")
    .option("--manifest <file>", "with --descriptor: the exact bytes of that manifest or index")
    .option("--status <file>", "a Bazel workspace status file: expands {{KEY}} in the description's source (repeatable; none: not stamped)", collect, [])
    .option("-o, --output <file>", "write the statement here (default: stdout)")
    .action(
      action(async (flags: ProvenanceFlags) => {
        let json: unknown;
        try {
          json = JSON.parse(await readFile(flags.build, "utf8"));
        } catch (err) {
          if (err instanceof SyntaxError) throw new OciError(`--build ${flags.build}: not JSON (${err.message})`);
          throw err;
        }
        const build = parseBuildDescription(stampSource(json, await readStatusFiles(flags.status)), `--build ${flags.build}`);
        let subjects: Subject[];
        if ((flags.descriptor === undefined) !== (flags.manifest === undefined)) throw new UsageError("--descriptor and --manifest go together");
        const given = [flags.layout !== undefined ? "--layout" : "", flags.descriptor !== undefined ? "--descriptor" : "", build.subjects !== undefined ? "the subjects it lists" : ""].filter((s) => s);
        if (given.length > 1) throw new UsageError(`--build ${flags.build}: subjects come from one of --layout, --descriptor or the description; got ${given.join(" and ")}`);
        if (flags.layout !== undefined) {
          subjects = await layoutSubjects(flags.layout, flags.refName, build.name);
        } else if (flags.descriptor !== undefined) {
          subjects = await manifestSubjects(flags.descriptor, flags.manifest!, build.name);
        } else {
          if (build.subjects === undefined) throw new UsageError(`--build ${flags.build} lists no subjects: add them, or give --layout or --descriptor`);
          subjects = build.subjects.map((s) => ({ ...(s.name !== undefined ? { name: s.name } : {}), digest: s.digest as Digest }));
        }
        const text = `${JSON.stringify(provenanceStatement(subjects, build), null, 2)}\n`;
        if (flags.output !== undefined) await writeFileAtomic(flags.output, text);
        else process.stdout.write(text);
      }),
    );
}

/** The layout's manifest (named `name`), then, for an index, each manifest it lists, named by platform. */
async function layoutSubjects(dir: string, refName: string | undefined, name: string | undefined): Promise<Subject[]> {
  const layout = await ImageLayout.open(dir);
  const entry = selectEntry((await layout.readIndex()).manifests, dir, refName);
  return subjectsOf(parseManifest(await layout.readBlob(entry), entry.mediaType, `${entry.digest} in ${dir}`), name);
}

/** What a Bazel rule has of its image without a layout: the descriptor and the manifest's bytes. */
async function manifestSubjects(descriptorFile: string, manifestFile: string, name: string | undefined): Promise<Subject[]> {
  const descriptor = await readDescriptorFile(descriptorFile);
  const bytes = await readFile(manifestFile);
  if (digestOf(bytes) !== descriptor.digest) {
    throw new OciError(`--manifest ${manifestFile} is ${digestOf(bytes)}, not the ${descriptor.digest} of --descriptor ${descriptorFile}`);
  }
  return subjectsOf(parseManifest(bytes, descriptor.mediaType, manifestFile), name);
}

function subjectsOf(root: ReturnType<typeof parseManifest>, name: string | undefined): Subject[] {
  const subjects: Subject[] = [{ ...(name !== undefined ? { name } : {}), digest: root.digest }];
  if (root.kind === "index") {
    for (const child of root.index.manifests) {
      subjects.push({ ...(child.platform !== undefined ? { name: formatPlatform(child.platform) } : {}), digest: child.digest });
    }
  }
  return subjects;
}

/**
 * The description's `source` and `metadata` with `{{KEY}}` expanded: a Bazel rule writes
 * `{{STABLE_GIT_COMMIT}}` when the revision comes from stamping, and `{{BUILD_TIMESTAMP}}` (seconds,
 * written as RFC 3339) as `metadata.startedOn` of a stamped build. Unstamped, an object that needs a
 * stamp value is left out.
 */
function stampSource(json: unknown, values: StampValues): unknown {
  if (json === null || typeof json !== "object") return json;
  const out: Record<string, unknown> = { ...(json as Record<string, unknown>) };
  for (const field of ["source", "metadata"]) {
    const obj = out[field];
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) continue; // the schema reports it
    const expanded: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v !== "string") {
        expanded[k] = v;
        continue;
      }
      const e = expand(v, values, `--build ${field}.${k}`);
      if (e === undefined) {
        delete out[field];
        break;
      }
      expanded[k] = field === "metadata" && hasPlaceholder(v) ? stampedTime(e) : e;
    }
    if (field in out) out[field] = expanded;
  }
  return out;
}
