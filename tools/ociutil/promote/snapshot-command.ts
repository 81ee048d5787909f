/**
 * `ociutil snapshot`: prints what registries hold under a prefix (or what the manifests promote to
 * a destination prefix) in kpromo's images.yaml format or its CSV.
 */
import { Option, type Command } from "commander";
import { action } from "../cli/run.js";
import { clientFor, collect } from "../cli/options.js";
import { parseReference } from "../name/reference.js";
import { UsageError } from "../util/errors.js";
import { loadManifests } from "./command.js";
import { snapshotOfEdges, snapshotRegistry, toCsv, toYaml, type Snapshot } from "./snapshot.js";

const READ_CONCURRENCY = 16;

interface SnapshotFlags {
  output: "yaml" | "csv";
  minimal?: boolean;
  tag?: string;
  manifest?: string;
  thinManifestDir?: string;
  manifestBasedSnapshotOf?: string;
  insecure?: boolean;
  plainHttp?: string[];
}

export function registerSnapshot(program: Command): void {
  program
    .command("snapshot")
    .description("print the images under registry prefixes (or that manifests promote to one) in the images.yaml format, or as CSV")
    .argument("[prefix...]", "registry/path: every repository under it the registry's catalog lists")
    .addOption(
      new Option("--output <format>", "yaml (images.yaml) or csv").default("yaml").argParser((v) => {
        const f = v.toLowerCase();
        if (f !== "yaml" && f !== "csv") throw new UsageError(`--output must be yaml or csv, got "${v}"`);
        return f;
      }),
    )
    .option("--minimal", "leave out untagged images that an index lists")
    .option("--tag <tag>", "only digests that carry this tag")
    .option("--manifest-based-snapshot-of <prefix>", "snapshot what the manifests promote to destinations under this prefix (no network)")
    .option("--manifest <file>", "with --manifest-based-snapshot-of: a promoter manifest")
    .option("--thin-manifest-dir <dir>", "with --manifest-based-snapshot-of: a thin manifest directory")
    .option("--insecure", "speak plain HTTP (no TLS) to every registry")
    .option("--plain-http <registry>", "speak plain HTTP to this registry only (repeatable)", collect, [])
    .action(action(async (prefixes: string[], flags: SnapshotFlags) => await snapshot(prefixes, flags)));
}

async function snapshot(prefixes: string[], flags: SnapshotFlags): Promise<void> {
  let s: Snapshot;
  if (flags.manifestBasedSnapshotOf !== undefined) {
    if (prefixes.length > 0) throw new UsageError("give registry prefixes or --manifest-based-snapshot-of, not both");
    if (flags.minimal || flags.tag !== undefined) throw new UsageError("--minimal and --tag apply to registry snapshots, not to --manifest-based-snapshot-of");
    const { edges } = await loadManifests(flags);
    s = snapshotOfEdges(edges, flags.manifestBasedSnapshotOf);
  } else {
    if (prefixes.length === 0) throw new UsageError("name at least one registry/path to snapshot, or use --manifest-based-snapshot-of");
    if (flags.manifest !== undefined || flags.thinManifestDir !== undefined) throw new UsageError("--manifest and --thin-manifest-dir need --manifest-based-snapshot-of");
    const client = clientFor({ insecure: flags.insecure, plainHttp: flags.plainHttp ?? [], jobs: 1 });
    s = new Map();
    for (const prefix of prefixes) {
      const trimmed = prefix.replace(/\/+$/, "");
      const ref = parseReference(`${trimmed}/x`); // checks the registry host and the path's syntax
      const path = trimmed.slice(ref.registry.length).replace(/^\//, "");
      const one = await snapshotRegistry(client, ref.registry, path, {
        minimal: flags.minimal === true,
        ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
        concurrency: READ_CONCURRENCY,
        warn: (m) => process.stderr.write(`ociutil: note: ${m}\n`),
      });
      for (const [name, dmap] of one) {
        const into = s.get(name) ?? new Map<string, Set<string>>();
        for (const [digest, tags] of dmap) into.set(digest, new Set([...(into.get(digest) ?? []), ...tags]));
        s.set(name, into);
      }
    }
  }
  process.stdout.write(flags.output === "csv" ? toCsv(s) : toYaml(s));
}
