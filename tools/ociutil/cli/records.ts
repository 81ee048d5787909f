/**
 * The flags of push and copy that record what was pushed (see provenance/pushed.ts), and the one
 * place that checks them before the push and writes the records after it.
 */
import type { Command } from "commander";
import { checkTargets, checkTektonBudget, records, writeRecords, type Pushed, type RecordTargets, type Records } from "../provenance/pushed.js";

export interface RecordFlags {
  imageRefs?: string;
  tektonResults?: string;
}

export function addRecordOptions(cmd: Command): Command {
  return cmd
    .option("--image-refs <file>", "write registry/repo@digest of each manifest pushed, one a line, an index before its images")
    .option("--tekton-results <dir>", "write the Tekton results IMAGE_URL, IMAGE_DIGEST and IMAGES into this directory");
}

/** The records asked for by flags and, for Cloud Build, by a non-empty $BUILDER_OUTPUT. */
export function recordTargets(flags: RecordFlags, env: NodeJS.ProcessEnv = process.env): RecordTargets {
  const builderOutput = env["BUILDER_OUTPUT"];
  return {
    ...(flags.imageRefs !== undefined ? { imageRefs: flags.imageRefs } : {}),
    ...(flags.tektonResults !== undefined ? { tektonResults: flags.tektonResults } : {}),
    ...(builderOutput ? { builderOutput } : {}),
  };
}

/** Checks the targets and the Tekton budget before anything is pushed. */
export async function checkBeforePush(targets: RecordTargets, pushed: Pushed): Promise<void> {
  await checkTargets(targets);
  if (targets.tektonResults !== undefined) checkTektonBudget(records(pushed).tektonResults);
}

/** Writes the records of a finished push; returns them for --json. */
export async function recordPush(targets: RecordTargets, pushed: Pushed): Promise<Records> {
  const r = records(pushed);
  await writeRecords(r, targets);
  return r;
}
