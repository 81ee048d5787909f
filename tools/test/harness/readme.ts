/**
 * README.md's example blocks: the fenced block after each `<!-- example:NAME -->` marker. The e2e
 * tests and `npm run example` (tools/example/) run them as written, with only the registry address
 * and the base's digest put in, so the README cannot drift from what runs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.js";

export const README = join(REPO_ROOT, "README.md");

/** The body of the fenced block after `<!-- example:NAME -->` (`lang`: its info string). */
export async function readmeBlock(name: string, lang: "starlark" | "sh", readme = README): Promise<string> {
  const text = await readFile(readme, "utf8");
  const m = new RegExp(`<!-- example:${name} -->\\s*\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(text);
  if (m === null) throw new Error(`${readme} has no \`\`\`${lang} block after <!-- example:${name} -->`);
  return m[1]!;
}

/** README.md's MODULE.bazel example pulling from `registry` at `digest` (its own are placeholders). */
export async function readmeModule(registry: string, digest: string, readme = README): Promise<string> {
  const example = await readmeBlock("module", "starlark", readme);
  const pulls = example.replaceAll("127.0.0.1:5000", registry).replace(/sha256:[0-9a-f]{64}/g, digest);
  if (pulls === example || !pulls.includes(digest)) throw new Error(`${readme}'s module example has no registry/digest to substitute`);
  return pulls;
}
