import type { BuildOptions } from "esbuild";
/** Options for esbuild's build(), for the repository at `root` (see bundle-options.mjs). */
export function bundleOptions(root: string): BuildOptions;
