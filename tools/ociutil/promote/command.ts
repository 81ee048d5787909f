/**
 * `ociutil promote`: promotes digests between registries as a promoter manifest says, the way the
 * Kubernetes image promoter (kpromo cip) does, for any OCI registry. A dry run by default.
 */
import path from "node:path";
import { Option, type Command } from "commander";
import { action } from "../cli/run.js";
import { addQpsOption, addRegistryOptions, clientFor, type RegistryFlags } from "../cli/options.js";
import { OciError, UsageError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fsutil.js";
import { removeAbandonedTemps } from "../util/temp-files.js";
import { executePlan, staticOutcome, type EdgeResult } from "./execute.js";
import { readInventory } from "./inventory.js";
import { readPlainManifest, type Problem, type PromoterManifest } from "./manifest.js";
import { planEdges, type PlannedEdge } from "./plan.js";
import { planReferrers } from "./referrers.js";
import { planAttestations } from "./attest.js";
import { loadSigningKey } from "../provenance/dsse.js";
import { buildReport, countOf, reportJson, summaryLine, tableLines } from "./report.js";
import { readThinManifestDir } from "./thin.js";
import { formatProblem, validateManifests, type Edge } from "./validate.js";

/** Repositories and tags read at once while planning (kpromo reads 20 at a time). */
const READ_CONCURRENCY = 16;

interface PromoteFlags extends RegistryFlags {
  manifest?: string;
  thinManifestDir?: string;
  validateOnly?: boolean;
  confirm?: boolean;
  record?: string;
  referrers: boolean;
  attest?: boolean;
  attestKey?: string;
}

export function registerPromote(program: Command): void {
  const cmd = addQpsOption(addRegistryOptions(
    program
      .command("promote")
      .description("promote images between registries by digest, as a promoter manifest says (a dry run unless --confirm)")
      .option("--manifest <file>", "a promoter manifest (registries and images in one file)")
      .option("--thin-manifest-dir <dir>", "a directory of thin manifests: manifests/<x>/promoter-manifest.yaml with images/<x>/images.yaml")
      .option("--validate-only", "check the manifests and stop; no registry is contacted")
      .option("--confirm", "carry out the plan (without it: print the plan and change nothing)")
      .addOption(new Option("--record <file>", "also write the JSON report (every edge with its outcome) to this file"))
      .option("--no-referrers", "promote the images alone, not their referrers (signatures, attestations, SBOMs) and cosign tags")
      .option("--attest", "attach an in-toto promotion statement to each promoted digest in each destination")
      .option("--attest-key <pem>", "sign the --attest statements with this ECDSA P-256 PEM key (cosign verify-attestation accepts them)"),
  ));
  // Here --jobs counts images being promoted at once (each one a destination and a digest).
  const jobs = cmd.options.find((o) => o.long === "--jobs");
  if (jobs !== undefined) jobs.description = "images promoted at once (a destination and a digest each)";
  cmd.action(action(async (flags: PromoteFlags) => await promote(flags)));
}

/** Reads and validates the manifests the flags name; exits 2 with every problem if any. */
export async function loadManifests(flags: { manifest?: string; thinManifestDir?: string; json?: boolean }): Promise<{ manifests: PromoterManifest[]; edges: Edge[] }> {
  if ((flags.manifest === undefined) === (flags.thinManifestDir === undefined)) {
    throw new UsageError("give exactly one of --manifest FILE and --thin-manifest-dir DIR");
  }
  const problems: Problem[] = [];
  let manifests: PromoterManifest[];
  if (flags.manifest !== undefined) {
    const m = await readPlainManifest(flags.manifest, problems);
    manifests = m !== undefined ? [m] : [];
  } else {
    manifests = await readThinManifestDir(flags.thinManifestDir!, problems);
  }
  const checked = validateManifests(manifests);
  problems.push(...checked.problems);
  if (problems.length > 0) {
    problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
    if (flags.json) process.stdout.write(`${JSON.stringify({ valid: false, problems })}\n`);
    for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
    throw new UsageError(`${problems.length} problem${problems.length === 1 ? "" : "s"} in the manifests; no registry was contacted`);
  }
  reportUnused(manifests);
  return { manifests, edges: checked.edges };
}

/** One note per kind of ignored key, not one per registry entry (a thin directory has hundreds). */
function reportUnused(manifests: PromoterManifest[]): void {
  const byField = new Map<string, Problem[]>();
  for (const p of manifests.flatMap((m) => m.unused)) {
    const kind = p.field.replace(/^.*\./, "");
    const list = byField.get(kind);
    if (list === undefined) byField.set(kind, [p]);
    else list.push(p);
  }
  for (const [kind, list] of byField) {
    const first = list[0]!;
    const where = `${first.file}:${first.line}${list.length > 1 ? ` and ${list.length - 1} more` : ""}`;
    process.stderr.write(`ociutil: note: ${kind} is unused (${where}): ${first.message.replace(/^ignored: /, "")}\n`);
  }
}

async function promote(flags: PromoteFlags): Promise<void> {
  if (flags.attestKey !== undefined && !flags.attest) throw new UsageError("--attest-key needs --attest");
  const { edges } = await loadManifests(flags);
  // The key is read before any registry is: a bad one must not leave promoted, unattested images.
  const attestKey = flags.attestKey !== undefined ? await loadSigningKey(flags.attestKey) : undefined;
  if (flags.validateOnly) {
    const destinations = new Set(edges.map((e) => e.destination.name)).size;
    const line = `manifests are valid: ${edges.length} edge${edges.length === 1 ? "" : "s"} to ${destinations} destination repositor${destinations === 1 ? "y" : "ies"}`;
    process.stdout.write(flags.json ? `${JSON.stringify({ valid: true, edges: edges.length, destinations })}\n` : `${line}\n`);
    return;
  }

  const client = clientFor(flags);
  const inventory = await readInventory(client, edges, READ_CONCURRENCY);
  const plan = planEdges(edges, inventory);
  const planned = [...plan];
  if (flags.referrers) plan.push(...(await planReferrers(client, planned, READ_CONCURRENCY, (repo) => inventory.get(repo.name)?.listedTags)));
  if (flags.attest) plan.push(...(await planAttestations(client, planned, READ_CONCURRENCY)));
  const results = flags.confirm ? await executePlan(client, plan, flags.jobs, attestKey !== undefined ? { attestKey } : {}) : withStaticOutcomes(plan);
  const report = buildReport(results, flags.confirm === true);

  if (flags.record !== undefined) {
    // The record is the one file a promotion writes here: a run killed while writing it left a temp file.
    await removeAbandonedTemps(path.dirname(flags.record), path.basename(flags.record));
    await writeFileAtomic(flags.record, reportJson(report, true));
  }
  if (flags.json) await writeOut(reportJson(report));
  else {
    if (report.summary.present < report.results.length) await writeOut(withNewlines(tableLines(report)));
    process.stdout.write(`${summaryLine(report)}\n`);
  }

  const { missing, refused, failed } = report.summary;
  if (missing + refused + failed > 0) {
    const parts = [failed > 0 ? countOf("failed", failed) : "", missing > 0 ? countOf("missing", missing) : "", refused > 0 ? countOf("refused", refused) : ""];
    throw new OciError(`not every edge can be promoted: ${parts.filter(Boolean).join(", ")} (see the ${flags.json ? "report" : "table"} for each and why)`);
  }
}

/** A dry run's outcomes, set in place on the planned edges. */
function withStaticOutcomes(plan: PlannedEdge[]): EdgeResult[] {
  for (const e of plan) (e as EdgeResult).outcome = staticOutcome(e);
  return plan as EdgeResult[];
}

function* withNewlines(lines: Iterable<string>): Generator<string> {
  for (const l of lines) yield `${l}\n`;
}

/** Writes pieces to stdout in batches, waiting when the reader is slower (a pipe to a pager). */
async function writeOut(pieces: Iterable<string>): Promise<void> {
  let batch = "";
  for (const p of pieces) {
    batch += p;
    if (batch.length < 1 << 16) continue;
    if (!process.stdout.write(batch)) await new Promise((resolve) => process.stdout.once("drain", resolve));
    batch = "";
  }
  if (batch.length > 0 && !process.stdout.write(batch)) await new Promise((resolve) => process.stdout.once("drain", resolve));
}
