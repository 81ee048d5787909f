/**
 * `npm run example` (tools/example/run.mjs loads this): checks the machine, runs the example, prints
 * one line on stderr and exits non-zero if a step fails; ^C or SIGTERM interrupts the running step,
 * and everything is cleaned up before it exits.
 */
import { parseArgs } from "node:util";
import { Interrupted, oneLine, runExample } from "./example.js";
import { notReady } from "./preflight.js";

const USAGE = "usage: npm run example [-- --readme FILE]";

const NEXT = [
  "Next:",
  "  README.md                  the five-minute example you just ran, line by line",
  "  docs/rules.md              every rule, attribute and provider (oci_pull, oci_image, oci_layout_test, oci_push, ...)",
  "  docs/cli/README.md         the ociutil commands (pull, push, copy, verify, ...)",
  "  e2e/smoke/                 the same workspace with more targets: an index, an image on an image, error cases",
];

/** Runs the example with `argv` (after `npm run example --`); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let readme: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { readme: { type: "string" }, help: { type: "boolean", short: "h" } } });
    if (values.help) {
      process.stdout.write(`${USAGE}\n  --readme FILE   run the example blocks of FILE (a README.md being edited) instead of README.md\n`);
      return 0;
    }
    readme = values.readme;
  } catch (e) {
    process.stderr.write(`example: ${oneLine(e)}\n${USAGE}\n`);
    return 2;
  }
  const why = notReady();
  if (why !== undefined) {
    process.stderr.write(`example: ${why}\n`);
    return 1;
  }

  const ac = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled === undefined) {
      signalled = sig;
      process.stdout.write(`\n${sig}: stopping the running step, then cleaning up...\n`);
      ac.abort();
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    process.stdout.write("rules_ociutil: README.md's five-minute example, end to end\n");
    await runExample({ say: (line) => process.stdout.write(`${line}\n`), signal: ac.signal, ...(readme !== undefined ? { readme } : {}) });
    process.stdout.write(`${NEXT.join("\n")}\n`);
    return 0;
  } catch (e) {
    if (e instanceof Interrupted || signalled !== undefined) {
      const msg = e instanceof Interrupted && e.message !== "interrupted" ? e.message : "interrupted; registry stopped, Bazel shut down, temp files removed";
      process.stderr.write(`example: ${msg} (${signalled ?? "signal"})\n`);
      return signalled === "SIGTERM" ? 143 : 130;
    }
    process.stderr.write(`example: ${oneLine(e)}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
