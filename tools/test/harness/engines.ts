/**
 * Container engines in the sid rootfs, for the tests of `oci_load`: a Docker daemon the test starts
 * and stops, and podman (daemonless; its storage is the rootfs's /var/lib/containers).
 *
 * dockerd runs as ../shared/notes/registry-and-peers.md ("Container engines") found it must here: in a
 * private mount namespace where the rootfs is a mount point of its own (else `docker load` fails with
 * `remount /, flags: 0x84000: invalid argument`), with cgroup2 mounted, the vfs storage driver, and no
 * iptables or bridge. Everything it writes (data root, exec root, socket, pid file) is in a temp dir
 * of the rootfs, removed by stop(); its mounts live and die with its namespace.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { runTool, sidRootfs, type RunResult } from "./peers.js";
import { WATCHDOG_SCRIPT } from "./registry.js";
import { sleep } from "./util.js";

export interface Dockerd {
  /** DOCKER_HOST for a docker CLI inside the rootfs: unix:///tmp/ociutil-dockerd-.../docker.sock */
  readonly dockerHost: string;
  /** Runs `docker ARGS` inside the rootfs against this daemon. */
  docker(args: string[]): Promise<RunResult>;
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

const INSTALL = "bash .ci/setup-sid-rootfs /var/cache/rules_ociutil/sid-rootfs (it installs docker.io and docker-cli)";

function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (c.pid !== undefined) process.kill(-c.pid, sig);
  } catch {
    /* already gone */
  }
}

/** Starts dockerd in the sid rootfs; throws, with the daemon's last log lines, if it does not come up. */
export async function startDockerd(timeoutMs = 60_000): Promise<Dockerd> {
  const rootfs = sidRootfs();
  if (!existsSync(join(rootfs, "usr/sbin/dockerd")) || !existsSync(join(rootfs, "usr/bin/docker"))) {
    throw new Error(`no dockerd and docker CLI in ${rootfs}: install them with: ${INSTALL}`);
  }
  const hostDir = await mkdtemp(join(rootfs, "tmp", "ociutil-dockerd-"));
  const dir = hostDir.slice(rootfs.length); // the same directory, as the rootfs sees it
  const dockerHost = `unix://${dir}/docker.sock`;
  const logPath = join(hostDir, "dockerd.log");
  const daemon = [
    "dockerd",
    `--data-root ${dir}/data`,
    `--exec-root ${dir}/exec`,
    `--pidfile ${dir}/docker.pid`,
    `--host ${dockerHost}`,
    "--storage-driver=vfs --iptables=false --ip6tables=false --bridge=none",
  ].join(" ");
  // $0 is the rootfs: bind it onto itself (recursively: /proc, /dev and /src come along) inside the
  // new namespace only, then chroot into it. Each exec keeps one process: the watchdog's $pid is dockerd.
  const inner = `mount --rbind "$0" "$0" && exec chroot "$0" sh -c 'mount -t cgroup2 none /sys/fs/cgroup || true; exec ${daemon}'`;
  const log = await open(logPath, "w");
  const child = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT, "dockerd-watchdog", "unshare", "-m", "--propagation", "private", "sh", "-c", inner, rootfs], {
    stdio: ["pipe", log.fd, log.fd],
    detached: true,
  });
  await log.close();
  child.stdin!.on("error", () => {});
  let exited = false;
  child.on("exit", () => {
    exited = true;
    child.stdin!.destroy();
  });
  const logTail = async (lines = 20): Promise<string> => {
    try {
      return (await readFile(logPath, "utf8")).trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  };
  /** Why it did not start: the log's error lines if it has any (a usage error is followed by the whole help), else its end. */
  const why = async (): Promise<string> => {
    const all = (await logTail(100_000)).split("\n");
    const errors = all.filter((l) => /level=(error|fatal)|unknown (flag|shorthand)|^failed|invalid argument/i.test(l));
    return (errors.length > 0 ? errors.slice(-10) : all.slice(-20)).join("\n");
  };
  const docker = (args: string[]): Promise<RunResult> =>
    runTool("chroot", [rootfs, "docker", ...args], { env: { DOCKER_HOST: dockerHost }, timeoutMs: 300_000 });
  const stop = async (): Promise<void> => {
    if (!exited) {
      const gone = once(child, "exit");
      child.stdin!.end(); // the watchdog sends SIGTERM to dockerd, which stops its containerd
      const t = setTimeout(() => killGroup(child, "SIGKILL"), 20_000);
      await gone;
      clearTimeout(t);
    }
    if (!process.env["OCIUTIL_TEST_KEEP_TMP"]) await rm(hostDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      const log = await why(); // before stop() removes the log with the temp dir
      await stop();
      throw new Error(`dockerd exited at start in ${rootfs}; its log says:\n${log}`);
    }
    if ((await docker(["version", "--format", "{{.Server.Version}}"])).code === 0) break;
    if (Date.now() > deadline) {
      const log = await why();
      await stop();
      throw new Error(`dockerd did not answer on ${dockerHost} within ${timeoutMs / 1000} s; its log says:\n${log}`);
    }
    await sleep(500);
  }
  return { dockerHost, docker, logTail, stop };
}

/** Runs `podman ARGS` inside the sid rootfs (as root, the rootfs's own storage). */
export function podman(args: string[]): Promise<RunResult> {
  const rootfs = sidRootfs();
  if (!existsSync(join(rootfs, "usr/bin/podman"))) throw new Error(`no podman in ${rootfs}: install it with: ${INSTALL.replace("docker.io and docker-cli", "podman")}`);
  return runTool("chroot", [rootfs, "podman", ...args], { env: { PODMAN_IGNORE_CGROUPSV1_WARNING: "1" }, timeoutMs: 300_000 });
}
