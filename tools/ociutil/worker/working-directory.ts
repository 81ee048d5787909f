/**
 * The process's working directory, shared by concurrent worker requests. Requests without a sandbox
 * run in the directory Bazel started the worker in (the execroot) and run side by side. A request
 * with a sandbox directory (`--experimental_worker_multiplex_sandboxing`) resolves its relative paths
 * there, and a process has one working directory: it waits until no request of another directory is
 * running, then the worker changes directory. Requests of the same directory still share it.
 */
import { resolve } from "node:path";

interface Waiter {
  dir: string;
  admit: (err?: Error) => void;
}

export class WorkingDirectory {
  private current = process.cwd();
  private active = 0;
  private waiting: Waiter[] = [];
  readonly root = this.current;

  /** Waits until `sandboxDir` (relative to the root) or the root is the working directory. */
  async enter(sandboxDir: string | undefined): Promise<void> {
    const dir = sandboxDir ? resolve(this.root, sandboxDir) : this.root;
    if (this.waiting.length === 0 && (this.active === 0 || dir === this.current)) {
      this.change(dir);
      this.active++;
      return;
    }
    await new Promise<void>((res, rej) => this.waiting.push({ dir, admit: (err) => (err ? rej(err) : res()) }));
  }

  /** The request that entered is done with the directory. */
  leave(): void {
    this.active--;
    // Let the longest waiting directory in, with every other request waiting for the same one.
    while (this.active === 0 && this.waiting.length > 0) {
      const dir = this.waiting[0]!.dir;
      const admitted = this.waiting.filter((w) => w.dir === dir);
      this.waiting = this.waiting.filter((w) => w.dir !== dir);
      try {
        this.change(dir);
      } catch (err) {
        for (const w of admitted) w.admit(err as Error);
        continue;
      }
      this.active = admitted.length;
      for (const w of admitted) w.admit();
    }
  }

  private change(dir: string): void {
    if (dir === this.current) return;
    process.chdir(dir);
    this.current = dir;
  }
}
