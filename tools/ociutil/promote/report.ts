/** The plan and the run's outcome, as a table for people and as JSON (the same facts) for machines. */
import type { EdgeResult, Outcome } from "./execute.js";
import { sortEdges } from "./plan.js";

export interface PromoteReport {
  confirmed: boolean;
  summary: Record<Outcome, number>;
  edges: Array<{
    source: string;
    destination: string;
    digest: string;
    tag: string | null;
    action: string;
    outcome: Outcome;
    detail?: string;
    /** For a referrer or cosign tag of a promoted image: which, and the manifest it refers to. */
    kind?: "referrer" | "cosign-tag" | "attestation";
    subject?: string;
    manifest: string;
  }>;
}

export function buildReport(results: EdgeResult[], confirmed: boolean): PromoteReport {
  const summary: Record<Outcome, number> = { planned: 0, copied: 0, present: 0, missing: 0, refused: 0, failed: 0 };
  for (const r of results) summary[r.outcome]++;
  return {
    confirmed,
    summary,
    edges: sortEdges(results).map((r) => ({
      source: `${r.source.name}@${r.digest}`,
      destination: r.tag !== null ? `${r.destination.name}:${r.tag}` : `${r.destination.name}@${r.digest}`,
      digest: r.digest,
      tag: r.tag,
      action: r.action,
      outcome: r.outcome,
      ...(r.detail !== undefined ? { detail: r.detail } : {}),
      ...(r.referrer !== undefined ? { kind: r.referrer.kind, subject: r.referrer.subject } : {}),
      manifest: `${r.at.file}:${r.at.line}`,
    })),
  };
}

const OUTCOME_WORDS: Record<Outcome, string> = {
  planned: "to copy",
  copied: "copied",
  present: "already present",
  missing: "missing",
  refused: "tag moves refused",
  failed: "failed",
};

export function summaryLine(report: PromoteReport): string {
  const parts = (Object.keys(OUTCOME_WORDS) as Outcome[]).filter((k) => report.summary[k] > 0).map((k) => `${report.summary[k]} ${OUTCOME_WORDS[k]}`);
  const total = report.edges.length;
  if (total === 0) return "nothing to promote: the manifests name no images";
  if (report.summary.present === total) return `nothing to do: all ${total} edge${total === 1 ? " is" : "s are"} already in place`;
  return `${total} edge${total === 1 ? "" : "s"}: ${parts.join(", ")}${report.confirmed ? "" : " (dry run; --confirm to promote)"}`;
}

const KIND_WORDS = { referrer: "referrer", "cosign-tag": "cosign tag", attestation: "promotion attestation" } as const;

/** A fixed-width table: OUTCOME, DESTINATION (repo:tag or repo@digest), DIGEST (short), then why. */
export function renderTable(report: PromoteReport): string {
  const rows = report.edges.map((e) => [
    e.outcome === "planned" ? "copy" : e.outcome,
    e.tag !== null ? e.destination : e.destination.replace(/@sha256:.*$/, e.kind !== undefined && e.kind !== "cosign-tag" ? ` (${e.kind})` : " (no tag)"),
    shortDigest(e.digest),
    e.detail ?? (e.subject !== undefined ? `${KIND_WORDS[e.kind!]} of ${shortDigest(e.subject)}` : e.outcome === "planned" || e.outcome === "copied" ? `from ${e.source.replace(/@sha256:.*$/, "")}` : ""),
  ]);
  const header = ["OUTCOME", "DESTINATION", "DIGEST", "DETAIL"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

function shortDigest(d: string): string {
  return d.startsWith("sha256:") ? d.slice(0, 19) : d;
}
