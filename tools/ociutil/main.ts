/** ociutil: the command-line entry point bundled into oci/private/ociutil.mjs. */
import "./v8-flags.js"; // first: see why there
import { Command, CommanderError } from "commander";
import { commands } from "./cli/commands.js";
import { addOutputOptions } from "./cli/options.js";
import { fail } from "./cli/run.js";
import { UsageError } from "./util/errors.js";
import { VERSION } from "./version.js";

const program = new Command("ociutil")
  .description("OCI images: pull, push, copy and verify image layouts and registries")
  .version(VERSION)
  .showHelpAfterError(false)
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith("error:") ? `ociutil: ${s}` : s) })
  .configureHelp({ showGlobalOptions: true });
addOutputOptions(program);

for (const register of commands) register(program);
for (const cmd of program.commands) cmd.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end with exit code 0; anything else commander rejects is a usage error.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  fail(err instanceof Error && !(err instanceof UsageError) ? err : err);
}
