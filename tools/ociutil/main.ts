/** ociutil: the command-line entry point bundled into oci/private/ociutil.mjs. */
import "./v8-flags.js"; // first: see why there
import { fail } from "./cli/run.js";
import { expandParamFiles } from "./cli/param-file.js";
import { runCommandLine } from "./cli/program.js";
import { runPersistentWorker } from "./worker/persistent-worker.js";

const args = process.argv.slice(2);
if (args.includes("--persistent_worker")) {
  // Bazel starts a worker as the action's command line minus its @paramfile, plus this flag.
  try {
    await runPersistentWorker();
    process.exit(0); // thread pools a request started must not keep the process up
  } catch (err) {
    process.stderr.write(`ociutil: persistent worker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
} else {
  let expanded: string[];
  try {
    expanded = expandParamFiles(args);
  } catch (err) {
    fail(err);
  }
  await runCommandLine(expanded);
}
