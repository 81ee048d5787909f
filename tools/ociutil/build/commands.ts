/** The subcommands the Bazel rules' actions run: layer, image, index, layout. */
import type { RegisterCommand } from "../cli/commands.js";
import { registerImage } from "./image.js";
import { registerIndex } from "./index.js";
import { registerLayer } from "./layer.js";
import { registerLayout } from "./layout.js";

export const buildCommands: RegisterCommand[] = [registerLayer, registerImage, registerIndex, registerLayout];
