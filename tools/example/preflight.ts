/**
 * What `npm run example` needs before it starts anything: what `bash .ci/setup` installs, and root.
 * Each missing piece is one line that says what to run.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { peer, sidRootfs } from "../test/harness/peers.js";

const SETUP = "run `bash .ci/setup` as root";

/** Why the example cannot run here, or undefined when it can. */
export function notReady(): string | undefined {
  const rootfs = sidRootfs();
  const inRootfs: Array<[string, string]> = [
    ["usr/bin/bazel", `no Bazel in ${rootfs}`],
    ["usr/bin/umoci", `no umoci in ${rootfs}`],
    // .ci/setup-sid-rootfs mounts /proc in the rootfs; a reboot unmounts it, and Bazel needs it.
    ["proc/self/status", `${rootfs}/proc is not mounted`],
  ];
  for (const [path, what] of inRootfs) {
    if (!existsSync(join(rootfs, path))) return `not set up yet (${what}): ${SETUP}`;
  }
  try {
    peer("docker-registry");
  } catch {
    return `not set up yet (no docker-registry on PATH): ${SETUP}`;
  }
  if (process.getuid?.() !== 0) {
    return "needs root: Bazel runs in the Debian unstable rootfs through chroot and a bind mount of this checkout; run it as root";
  }
  return undefined;
}
