/** Every ociutil subcommand registers itself here; main.ts adds them to the program in this order. */
import type { Command } from "commander";
import { registerAttest } from "./attest.js";
import { registerCopy } from "./copy.js";
import { registerProvenance } from "./provenance.js";
import { registerPull } from "./pull.js";
import { registerPush } from "./push.js";
import { registerSave } from "./save.js";
import { registerVerify } from "./verify.js";
import { mutateCommands } from "../mutate/commands.js";
import { registerPromote } from "../promote/command.js";
import { registerSnapshot } from "../promote/snapshot-command.js";
import { imagefsCommands } from "../imagefs/commands.js";
import { registerStructureTest } from "../structure/command.js";
import { registerStamp } from "../stamp/command.js";
import { registerSbom } from "../sbom/command.js";

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerPull,
  registerPush,
  registerCopy,
  registerAttest,
  registerProvenance,
  registerVerify,
  registerPromote,
  registerSnapshot,
  registerSave,
  registerStamp,
  ...mutateCommands,
  ...imagefsCommands,
  registerStructureTest,
  registerSbom,
];
