/**
 * A Bazel workspace run by the real Bazel 7 inside the Debian unstable rootfs (`.ci/setup-sid-rootfs`),
 * entered with chroot: the checkout is bind-mounted at /src/<hash of its path>, so that two checkouts
 * (a developer's and CI's clone) never find each other's mount. Needs root.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdir, readFile, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.js";
import { runTool, sidRootfs, type RunResult } from "./peers.js";

export const OUTPUT_USER_ROOT = "/root/.cache/rules_ociutil-e2e";

/**
 * Which Bazel behaviour the e2e suites run under: "default" (7.7.1's own), or "next" (every flag of
 * Bazel 8 and 9 that 7.7.1 knows, e2e/bazel-next.bazelrc), chosen by $OCIUTIL_E2E_BAZEL.
 */
export const BAZEL_FLAGS: "default" | "next" = (() => {
  const v = process.env["OCIUTIL_E2E_BAZEL"] ?? "default";
  if (v !== "default" && v !== "next") throw new Error(`OCIUTIL_E2E_BAZEL must be "default" or "next", not ${JSON.stringify(v)}`);
  return v;
})();

/** The canonical name of a repository the `oci` extension made: `~` before Bazel 8, `+` after. */
export function ociRepoName(name: string): string {
  return BAZEL_FLAGS === "next" ? `rules_ociutil++oci+${name}` : `rules_ociutil~~oci~${name}`;
}

function isMountpoint(p: string): boolean {
  try {
    execFileSync("mountpoint", ["-q", p]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Each Bazel server unpacks its JNI library into java.io.tmpdir (the rootfs's /tmp) and leaves the
 * directory behind when it is killed rather than shut down: hundreds of megabytes over many runs.
 * Those older than an hour belong to no server this run started (a loaded library survives removal).
 */
async function removeStaleJniDirs(tmp: string): Promise<void> {
  const hourAgo = Date.now() - 3_600_000;
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    if (!name.startsWith("bazel-jni.")) continue;
    const dir = join(tmp, name);
    const st = await stat(dir).catch(() => undefined);
    if (st !== undefined && st.mtimeMs < hourAgo) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The checkout, mounted in the rootfs for the life of a test file. */
export class MountedCheckout {
  readonly rootfs = sidRootfs();
  /** Where the checkout is, inside the rootfs. */
  readonly src = `/src/${createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 12)}`;
  private mountedHere = false;

  /** A path inside the rootfs, as the host sees it. */
  host(p: string): string {
    return join(this.rootfs, p);
  }

  async mount(): Promise<void> {
    if (!existsSync(join(this.rootfs, "usr", "bin", "bazel"))) {
      throw new Error(`no Bazel in ${this.rootfs}: make the rootfs with: bash .ci/setup-sid-rootfs ${this.rootfs}`);
    }
    await removeStaleJniDirs(this.host("/tmp"));
    if (process.getuid?.() !== 0) throw new Error("Bazel e2e tests need root (chroot and a bind mount)");
    const at = this.host(this.src);
    await mkdir(at, { recursive: true });
    if (isMountpoint(at)) {
      if (statSync(join(at, "MODULE.bazel")).ino !== statSync(join(REPO_ROOT, "MODULE.bazel")).ino) {
        throw new Error(`${at} is a mount of another checkout: unmount it (umount ${at})`); // only on a hash collision
      }
    } else {
      execFileSync("mount", ["--bind", REPO_ROOT, at]);
      this.mountedHere = true;
    }
  }

  unmount(): void {
    if (this.mountedHere) execFileSync("umount", [this.host(this.src)]);
    this.mountedHere = false;
  }
}

/** One workspace directory inside the rootfs, and the Bazel commands run in it. */
export class BazelWorkspace {
  /** Everything Bazel printed on stderr (to see which spawn strategies it used). */
  log = "";
  outputBase = "";
  bazelBin = "";

  /** Interrupts the running command (SIGINT, as ^C does) when aborted. */
  signal?: AbortSignal;

  constructor(
    readonly checkout: MountedCheckout,
    /** The workspace's path inside the rootfs. */
    readonly dir: string,
    /** Startup options after --output_user_root, e.g. an --output_base of the workspace's own. */
    readonly startup = "",
  ) {}

  /** Runs bash -lc CMD inside the rootfs, in this workspace. */
  async sh(cmd: string, timeoutMs = 900_000): Promise<RunResult> {
    return await runTool("chroot", [this.checkout.rootfs, "bash", "-lc", `cd ${this.dir} && ${cmd}`], {
      timeoutMs,
      ...(this.signal ? { signal: this.signal } : {}),
    });
  }

  /** Startup options that choose the flag set: the "next" one is an extra rc file (read after the
   *  workspace's .bazelrc, so a suite's own flags still apply). */
  private flagStartup(): string {
    return BAZEL_FLAGS === "next" ? `--bazelrc=${this.checkout.src}/e2e/bazel-next.bazelrc` : "";
  }

  async bazel(args: string, env = ""): Promise<RunResult> {
    const r = await this.sh(`${env} bazel --output_user_root=${OUTPUT_USER_ROOT} ${this.flagStartup()} ${this.startup} ${args}`);
    this.log += r.stderr;
    return r;
  }

  async mustBazel(args: string, env = ""): Promise<RunResult> {
    const r = await this.bazel(args, env);
    if (r.code !== 0) throw new Error(`bazel ${args} failed (exit ${r.code}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-6000)}`);
    return r;
  }

  async info(): Promise<void> {
    this.outputBase = (await this.mustBazel("info output_base")).stdout.trim();
    this.bazelBin = (await this.mustBazel("info bazel-bin")).stdout.trim();
  }

  /** A file under bazel-bin, as the host sees it. */
  bin(p: string): string {
    return this.checkout.host(join(this.bazelBin, p));
  }

  /** The directory of a repository of the `oci` extension, as the host sees it. */
  externalRepo(name: string): string {
    return this.checkout.host(join(this.outputBase, "external", ociRepoName(name)));
  }

  async json<T>(binPath: string): Promise<T> {
    return JSON.parse(await readFile(this.bin(binPath), "utf8")) as T;
  }
}
