/** The subcommands the Bazel rules' actions run to make layers, images, indexes and layouts (ggcr's `mutate`). */
import type { RegisterCommand } from "../cli/commands.js";
import { registerImage } from "./image.js";
import { registerIndex } from "./index.js";
import { registerLayer } from "./layer.js";
import { registerLayout } from "./layout.js";

export const mutateCommands: RegisterCommand[] = [registerLayer, registerImage, registerIndex, registerLayout];
