/**
 * `ociutil image`: a new image config and manifest from a base (its manifest and config bytes, as a
 * shallow pull stores them, or as another `oci_image` wrote them), layers and config attributes.
 *
 * Layers are given as `--layer INFO.json=FILE` (what `ociutil layer` wrote: no need to read the layer
 * again) or `--layer FILE` (any tar or tar+gzip: hashed here, and gunzipped to get its diff_id).
 * Outputs are the exact blob bytes of the config and manifest, and the manifest's descriptor (with its
 * platform) for `index` and `layout`. The layers' bytes are not copied: they stay the files Bazel has.
 */
import type { Command } from "commander";
import * as z from "zod";
import { digestOf, parseDigest, type Digest } from "../name/digest.js";
import { MediaType } from "../spec/mediatypes.js";
import { parseManifest } from "../spec/manifest.js";
import { ImageConfigSchema, describeIssues, type Descriptor, type ImageConfig } from "../spec/schemas.js";
import { OciError, UsageError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fsutil.js";
import { action } from "../cli/run.js";
import { canonicalBytes, collect, readJsonFile, splitPair } from "./common.js";
import { LayerInfoSchema, type LayerInfo } from "./layer.js";
import { describeLayerFile } from "./describe.js";
import { readFile } from "node:fs/promises";
import { expand, expandMap, readStatusFiles, stampedTime, type StampValues } from "../stamp/status.js";
import { readKeyValueFile, readListFile, readValueFile } from "./attribute-files.js";

export const ImageSpecSchema = z.object({
  target: z.string().optional(),
  base_name: z.string().optional(),
  entrypoint: z.array(z.string()).nullable().optional(),
  cmd: z.array(z.string()).nullable().optional(),
  env: z.record(z.string(), z.string()).optional(),
  user: z.string().optional(),
  workdir: z.string().optional(),
  exposed_ports: z.array(z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  stop_signal: z.string().optional(),
  created: z.string().optional(),
  os: z.string().optional(),
  architecture: z.string().optional(),
  variant: z.string().optional(),
  /** The same attributes from files (rules_oci's form; see attribute-files.ts): read by the action. */
  env_file: z.string().optional(),
  labels_file: z.string().optional(),
  annotations_file: z.string().optional(),
  entrypoint_file: z.string().optional(),
  cmd_file: z.string().optional(),
  created_file: z.string().optional(),
});
export type ImageSpec = z.infer<typeof ImageSpecSchema>;

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** The timestamp of reproducible images: the epoch, unless the rule says otherwise. */
export const DEFAULT_CREATED = "1970-01-01T00:00:00Z";

const BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest";
const BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name";

/** Docker layer media types name the same bytes as OCI's; an OCI manifest uses OCI's names. */
const LAYER_TYPE_TO_OCI: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerForeignLayerGzip]: MediaType.OciNondistributableLayerGzip,
};

export async function readLayerArg(arg: string): Promise<{ info: LayerInfo; file: string }> {
  const eq = arg.indexOf("=");
  if (eq > 0 && arg.slice(0, eq).endsWith(".json")) {
    const [infoFile, file] = splitPair(arg, "--layer");
    return { info: await readJsonFile(infoFile, LayerInfoSchema, "layer info"), file };
  }
  return { info: await describeLayerFile(arg), file: arg };
}

export interface ImageInputs {
  spec: ImageSpec;
  baseManifest?: Buffer;
  baseConfig?: Buffer;
  layers: LayerInfo[];
}

export interface BuiltImage {
  manifest: Buffer;
  config: Buffer;
  descriptor: Descriptor;
}

function emptyObjectMap(keys: readonly string[] | undefined): Record<string, Record<string, never>> | undefined {
  if (keys === undefined || keys.length === 0) return undefined;
  const out: Record<string, Record<string, never>> = {};
  for (const k of keys) out[k] = {};
  return out;
}

export function buildImage(inputs: ImageInputs): BuiltImage {
  const { spec } = inputs;
  const who = spec.target ?? "image";
  let baseLayers: Descriptor[] = [];
  let config: ImageConfig;
  let baseDigest: Digest | undefined;
  if (inputs.baseManifest !== undefined) {
    const base = parseManifest(inputs.baseManifest, undefined, `of the base of ${who}`);
    if (base.kind !== "image") {
      throw new OciError(`${who}: the base is an image index, not an image: pick one platform of it (e.g. @base//:linux_amd64)`);
    }
    baseDigest = base.digest;
    if (inputs.baseConfig === undefined) throw new UsageError("--base-manifest needs --base-config");
    if (digestOf(inputs.baseConfig) !== base.manifest.config.digest) {
      throw new OciError(`${who}: the base config does not match the base manifest's config digest ${base.manifest.config.digest}`);
    }
    const parsed = ImageConfigSchema.safeParse(JSON.parse(inputs.baseConfig.toString("utf8")));
    if (!parsed.success) throw new OciError(`${who}: malformed base image config: ${describeIssues(parsed.error)}`);
    config = parsed.data;
    baseLayers = base.manifest.layers.map((l) => ({ ...l, mediaType: LAYER_TYPE_TO_OCI[l.mediaType] ?? l.mediaType }));
    if (config.rootfs.diff_ids.length !== baseLayers.length) {
      throw new OciError(`${who}: the base config has ${config.rootfs.diff_ids.length} diff_ids for ${baseLayers.length} layers`);
    }
  } else {
    if (spec.architecture === undefined) {
      throw new OciError(`${who}: an image without a base needs architecture (and os, default "linux")`);
    }
    config = { architecture: spec.architecture, os: spec.os ?? "linux", config: {}, rootfs: { type: "layers", diff_ids: [] } };
  }

  const created = spec.created ?? DEFAULT_CREATED;
  if (!RFC3339.test(created)) throw new OciError(`${who}: created "${created}" is not an RFC 3339 time such as 2024-01-02T03:04:05Z`);
  const c: Record<string, unknown> = { ...(config.config ?? {}) };
  if (spec.entrypoint !== undefined) c["Entrypoint"] = spec.entrypoint;
  if (spec.cmd !== undefined) c["Cmd"] = spec.cmd;
  if (spec.user !== undefined) c["User"] = spec.user;
  if (spec.workdir !== undefined) c["WorkingDir"] = spec.workdir;
  if (spec.stop_signal !== undefined) c["StopSignal"] = spec.stop_signal;
  if (spec.env !== undefined && Object.keys(spec.env).length > 0) {
    const env = [...((c["Env"] as string[] | null | undefined) ?? [])];
    const valueOf = (k: string): string => {
      const e = env.find((x) => x.startsWith(`${k}=`));
      return e === undefined ? "" : e.slice(k.length + 1);
    };
    for (const [k, raw] of Object.entries(spec.env)) {
      // $NAME and ${NAME} name the value so far (the base's, or an earlier entry's), as in rules_oci:
      // PATH = "/app/bin:$PATH" extends the base's PATH.
      const v = raw.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => valueOf((a ?? b)!));
      const i = env.findIndex((e) => e === k || e.startsWith(`${k}=`));
      if (i >= 0) env[i] = `${k}=${v}`;
      else env.push(`${k}=${v}`);
    }
    c["Env"] = env;
  }
  const ports = emptyObjectMap(spec.exposed_ports?.map((p) => (p.includes("/") ? p : `${p}/tcp`)));
  if (ports !== undefined) c["ExposedPorts"] = { ...((c["ExposedPorts"] as object | null | undefined) ?? {}), ...ports };
  const volumes = emptyObjectMap(spec.volumes);
  if (volumes !== undefined) c["Volumes"] = { ...((c["Volumes"] as object | null | undefined) ?? {}), ...volumes };
  if (spec.labels !== undefined && Object.keys(spec.labels).length > 0) {
    c["Labels"] = { ...((c["Labels"] as Record<string, string> | null | undefined) ?? {}), ...spec.labels };
  }

  const history = [...(config.history ?? [])];
  for (const _ of inputs.layers) history.push({ created, created_by: "rules_ociutil oci_image" });
  const newConfig: Record<string, unknown> = {
    ...config,
    created,
    architecture: spec.architecture ?? config.architecture,
    os: spec.os ?? config.os,
    config: c,
    rootfs: { type: "layers", diff_ids: [...config.rootfs.diff_ids, ...inputs.layers.map((l) => parseDigest(l.diffID))] },
    history,
  };
  const variant = spec.variant ?? (spec.architecture === undefined ? config.variant : undefined);
  if (variant !== undefined) newConfig["variant"] = variant;
  else delete newConfig["variant"];
  const configBytes = canonicalBytes(newConfig);

  const annotations: Record<string, string> = {};
  if (baseDigest !== undefined) {
    annotations[BASE_DIGEST_ANNOTATION] = baseDigest;
    if (spec.base_name !== undefined) annotations[BASE_NAME_ANNOTATION] = spec.base_name;
  }
  Object.assign(annotations, spec.annotations ?? {});
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciImageManifest,
    config: { mediaType: MediaType.OciImageConfig, digest: digestOf(configBytes), size: configBytes.length },
    layers: [
      ...baseLayers,
      ...inputs.layers.map((l) => ({ mediaType: l.descriptor.mediaType, digest: parseDigest(l.descriptor.digest), size: l.descriptor.size })),
    ],
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  const manifestBytes = canonicalBytes(manifest);
  // go-containerregistry's empty image (what `crane append` onto scratch makes) has "" for both: its
  // platform is unknown, and a descriptor then has none rather than an invalid one.
  const os = newConfig["os"] as string;
  const architecture = newConfig["architecture"] as string;
  if ((os === "") !== (architecture === "")) {
    const [has, lacks] = os === "" ? ["architecture", "os"] : ["os", "architecture"];
    throw new OciError(`${who}: the image has ${has} "${os || architecture}" but an empty ${lacks}: set both os and architecture`);
  }
  const descriptor: Descriptor = { mediaType: MediaType.OciImageManifest, digest: digestOf(manifestBytes), size: manifestBytes.length };
  if (os !== "") descriptor.platform = { architecture, os, ...(variant !== undefined ? { variant } : {}) };
  return { manifest: manifestBytes, config: configBytes, descriptor };
}

/** The spec with its *_file attributes read: a file's entries first, the inline ones over them. */
export async function withAttributeFiles(spec: ImageSpec): Promise<ImageSpec> {
  const out: ImageSpec = { ...spec };
  for (const key of ["env", "labels", "annotations"] as const) {
    const file = spec[`${key}_file`];
    if (file !== undefined) out[key] = { ...(await readKeyValueFile(file, key)), ...(spec[key] ?? {}) };
  }
  for (const key of ["entrypoint", "cmd"] as const) {
    const file = spec[`${key}_file`];
    if (file !== undefined) out[key] = await readListFile(file, key);
  }
  if (spec.created_file !== undefined) out.created = await readValueFile(spec.created_file, "created");
  return out;
}

/** The spec's labels, annotations and `created` with `{{KEY}}` expanded (stamp/status.ts). */
export function stampSpec(spec: ImageSpec, values: StampValues): ImageSpec {
  const out: ImageSpec = { ...spec };
  const labels = expandMap(spec.labels, values, "label");
  const annotations = expandMap(spec.annotations, values, "annotation");
  if (labels !== undefined) out.labels = labels;
  if (annotations !== undefined) out.annotations = annotations;
  if (spec.created !== undefined) {
    const created = expand(spec.created, values, "created");
    if (created === undefined) delete out.created;
    else out.created = stampedTime(created);
  }
  return out;
}

interface ImageOptions {
  spec: string;
  status: string[];
  baseManifest?: string;
  baseConfig?: string;
  layer: string[];
  outputManifest: string;
  outputConfig: string;
  outputDescriptor: string;
  outputDigest?: string;
}

export function registerImage(program: Command): void {
  program
    .command("image")
    .description("assemble an image config and manifest from a base, layers and config attributes")
    .requiredOption("--spec <file>", "JSON: entrypoint, cmd, env, user, workdir, exposed_ports, volumes, labels, annotations, created, os, architecture, variant")
    .option("--base-manifest <file>", "the base image's manifest (exact bytes)")
    .option("--base-config <file>", "the base image's config (exact bytes)")
    .option("--layer <INFO.json=FILE|FILE>", "a layer to add on top, in order (repeatable)", collect, [])
    .option("--status <file>", "a Bazel workspace status file: expands {{KEY}} in labels, annotations and created (repeatable; none: not stamped)", collect, [])
    .requiredOption("--output-manifest <file>", "where to write the manifest")
    .requiredOption("--output-config <file>", "where to write the config")
    .option("--output-digest <file>", "also write the digest alone, sha256:<hex> with no newline (rules_oci's <name>.digest)")
    .requiredOption("--output-descriptor <file>", "where to write the manifest's descriptor (JSON, with platform)")
    .action(
      action(async (opts: ImageOptions) => {
        const spec = stampSpec(await withAttributeFiles(await readJsonFile(opts.spec, ImageSpecSchema, "image spec")), await readStatusFiles(opts.status));
        const layers = [];
        for (const arg of opts.layer) layers.push((await readLayerArg(arg)).info);
        const built = buildImage({
          spec,
          ...(opts.baseManifest !== undefined ? { baseManifest: await readFile(opts.baseManifest) } : {}),
          ...(opts.baseConfig !== undefined ? { baseConfig: await readFile(opts.baseConfig) } : {}),
          layers,
        });
        await writeFileAtomic(opts.outputConfig, built.config);
        await writeFileAtomic(opts.outputManifest, built.manifest);
        await writeFileAtomic(opts.outputDescriptor, `${JSON.stringify(built.descriptor)}\n`);
        if (opts.outputDigest !== undefined) await writeFileAtomic(opts.outputDigest, built.descriptor.digest);
      }),
    );
}
