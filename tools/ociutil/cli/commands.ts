/** Every ociutil subcommand registers itself here; main.ts adds them to the program in this order. */
import type { Command } from "commander";
import { registerCopy } from "./copy.js";
import { registerPull } from "./pull.js";
import { registerPush } from "./push.js";
import { registerVerify } from "./verify.js";
import { mutateCommands } from "../mutate/commands.js";
import { imagefsCommands } from "../imagefs/commands.js";
import { registerStructureTest } from "../structure/command.js";

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerPull, registerPush, registerCopy, registerVerify, ...mutateCommands, ...imagefsCommands, registerStructureTest];
