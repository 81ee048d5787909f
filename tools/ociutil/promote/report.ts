/**
 * The plan and the run's outcome, as a table for people and as JSON (the same facts) for machines.
 * Both are produced a line at a time: a plan of 440,000 edges is a few hundred megabytes of text,
 * which must not be held in memory at once.
 */
import type { EdgeResult, Outcome } from "./execute.js";
import { missingDetail, sortEdges } from "./plan.js";

export interface PromoteReport {
  confirmed: boolean;
  summary: Record<Outcome, number>;
  /** Sorted: destination, tag (tagless last), digest. */
  results: EdgeResult[];
}

/** One edge as the JSON report gives it. */
export interface ReportEdge {
  source: string;
  destination: string;
  digest: string;
  tag: string | null;
  action: string;
  outcome: Outcome;
  detail?: string;
  /** For a referrer, cosign tag or attestation of a promoted image: which, and the manifest it refers to. */
  kind?: "referrer" | "cosign-tag" | "attestation";
  subject?: string;
  manifest: string;
}

/** The report over `results`, which it sorts in place (a copy of 720,000 references is not free). */
export function buildReport(results: EdgeResult[], confirmed: boolean): PromoteReport {
  const summary: Record<Outcome, number> = { planned: 0, copied: 0, present: 0, missing: 0, refused: 0, failed: 0 };
  for (const r of results) summary[r.outcome]++;
  return { confirmed, summary, results: sortEdges(results) };
}

export function reportEdge(r: EdgeResult): ReportEdge {
  return {
    source: `${r.source.name}@${r.digest}`,
    destination: r.tag !== null ? `${r.destination.name}:${r.tag}` : `${r.destination.name}@${r.digest}`,
    digest: r.digest,
    tag: r.tag,
    action: r.action,
    outcome: r.outcome,
    ...(r.detail !== undefined ? { detail: r.detail } : r.action === "missing" ? { detail: missingDetail(r) } : {}),
    ...(r.referrer !== undefined ? { kind: r.referrer.kind, subject: r.referrer.subject } : {}),
    manifest: `${r.at.file}:${r.at.line}`,
  };
}

/**
 * The JSON report in pieces: `{"confirmed":…,"summary":{…},"edges":[…]}`. With `lines`, one edge a
 * line (for --record files people read); else one line in all (for --json on stdout).
 */
export function* reportJson(report: PromoteReport, lines = false): Generator<string> {
  const nl = lines ? "\n" : "";
  yield `{${nl}${lines ? "  " : ""}"confirmed":${report.confirmed},${nl}${lines ? "  " : ""}"summary":${JSON.stringify(report.summary)},${nl}${lines ? "  " : ""}"edges":[`;
  let first = true;
  for (const r of report.results) {
    yield `${first ? "" : ","}${nl}${lines ? "    " : ""}${JSON.stringify(reportEdge(r))}`;
    first = false;
  }
  yield `${report.results.length > 0 ? nl : ""}${lines && report.results.length > 0 ? "  " : ""}]${nl}}\n`;
}

const OUTCOME_WORDS: Record<Outcome, string> = {
  planned: "to copy",
  copied: "copied",
  present: "already present",
  missing: "missing",
  refused: "tag moves refused",
  failed: "failed",
};

/** "1 tag move refused", "2 tag moves refused", "3 copied". */
export function countOf(outcome: Outcome, n: number): string {
  return `${n} ${n === 1 ? OUTCOME_WORDS[outcome].replace("moves", "move") : OUTCOME_WORDS[outcome]}`;
}

export function summaryLine(report: PromoteReport): string {
  const parts = (Object.keys(OUTCOME_WORDS) as Outcome[]).filter((k) => report.summary[k] > 0).map((k) => countOf(k, report.summary[k]));
  const total = report.results.length;
  if (total === 0) return "nothing to promote: the manifests name no images";
  if (report.summary.present === total) return `nothing to do: all ${total} edge${total === 1 ? " is" : "s are"} already in place`;
  return `${total} edge${total === 1 ? "" : "s"}: ${parts.join(", ")}${report.confirmed ? "" : " (dry run; --confirm to promote)"}`;
}

const KIND_WORDS = { referrer: "referrer", "cosign-tag": "cosign tag", attestation: "promotion attestation" } as const;

function cells(r: EdgeResult): [string, string, string, string] {
  const e = reportEdge(r);
  return [
    e.outcome === "planned" ? "copy" : e.outcome,
    e.tag !== null ? e.destination : e.destination.replace(/@sha256:.*$/, e.kind !== undefined && e.kind !== "cosign-tag" ? ` (${e.kind})` : " (no tag)"),
    shortDigest(e.digest),
    e.detail ??
      (e.subject !== undefined
        ? `${KIND_WORDS[e.kind!]} of ${shortDigest(e.subject)}`
        : e.outcome === "planned" || e.outcome === "copied"
          ? `from ${e.source.replace(/@sha256:.*$/, "")}`
          : ""),
  ];
}

/** The missing edges of one source repository: the table says so once, not once per edge. */
interface MissingImage {
  source: string;
  digests: Set<string>;
  destinations: Set<string>;
  edges: number;
  /** The edge itself while it is the only one: then its row is the edge's own. */
  only: EdgeResult | undefined;
}

/**
 * The table, a line at a time: OUTCOME, DESTINATION (repo:tag or repo@digest), DIGEST (short), then
 * why; what is to be done, was done, or could not be. Edges already in place are only counted (in
 * the summary line): in a periodic job's steady state they are nearly all of them, and the rows that
 * matter would drown. Missing edges are one row per source repository (its image): a source that
 * lacks everything would otherwise print a row per digest, tag and destination (720,000 for the
 * Kubernetes community's manifests). The JSON report and --record list every edge.
 */
export function* tableLines(report: PromoteReport): Generator<string> {
  const header: [string, string, string, string] = ["OUTCOME", "DESTINATION", "DIGEST", "DETAIL"];
  const missing = new Map<string, MissingImage>();
  for (const r of report.results) {
    if (r.outcome !== "missing") continue;
    let m = missing.get(r.source.name);
    if (m === undefined) missing.set(r.source.name, (m = { source: r.source.name, digests: new Set(), destinations: new Set(), edges: 0, only: r }));
    else m.only = undefined;
    m.digests.add(r.digest);
    m.destinations.add(r.destination.name);
    m.edges++;
  }
  const rows = function* (): Generator<[string, string, string, string]> {
    for (const r of report.results) if (r.outcome !== "present" && r.outcome !== "missing") yield cells(r);
    for (const m of [...missing.values()].sort((a, b) => (a.source < b.source ? -1 : 1))) yield m.only !== undefined ? cells(m.only) : missingCells(m);
  };
  // Two passes over the edges, the first for the widths only, so no row is kept.
  const widths = header.map((h) => h.length);
  for (const c of rows()) {
    for (let i = 0; i < 3; i++) widths[i] = Math.max(widths[i]!, c[i]!.length);
  }
  const line = (c: string[]): string =>
    c
      .map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  yield line(header);
  for (const c of rows()) yield line(c);
}

function missingCells(m: MissingImage): [string, string, string, string] {
  const n = m.digests.size;
  const d = m.destinations.size;
  return [
    "missing",
    `${m.source} (source)`,
    n === 1 ? shortDigest([...m.digests][0]!) : `${n} digests`,
    `in neither the source nor ${d === 1 ? "the destination" : "any destination"}: ${m.edges} edges to ${d} repositor${d === 1 ? "y" : "ies"}`,
  ];
}

function shortDigest(d: string): string {
  return d.startsWith("sha256:") ? d.slice(0, 19) : d;
}
