/** The ociutil command line: one fresh commander program per run, so no parsed option outlives it. */
import { Command, CommanderError } from "commander";
import { commands } from "./commands.js";
import { addOutputOptions } from "./options.js";
import { ExitRequest, exit } from "./exit.js";
import { fail } from "./run.js";
import { VERSION } from "../version.js";

/** Runs one ociutil command line (without `node` and the script); ends with `exit` on failure. */
export async function runCommandLine(args: string[]): Promise<void> {
  const program = new Command("ociutil")
    .description("OCI images: pull, push, copy and verify image layouts and registries")
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s.startsWith("error:") ? `ociutil: ${s}` : s),
    })
    .configureHelp({ showGlobalOptions: true });
  addOutputOptions(program);
  for (const register of commands) register(program);
  for (const cmd of program.commands) cmd.exitOverride();

  try {
    await program.parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof ExitRequest) throw err;
    // --help and --version end with exit code 0; anything else commander rejects is a usage error.
    if (err instanceof CommanderError) exit(err.exitCode === 0 ? 0 : 2);
    fail(err);
  }
}
