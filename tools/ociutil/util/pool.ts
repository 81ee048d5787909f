/** Runs async tasks with at most `limit` in flight; the first failure stops new tasks and is thrown. */
export async function forEachLimit<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        await task(items[i] as T, i);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw firstError;
}

/** Default parallel blob transfers: go-containerregistry uses 4, skopeo 6; loopback registries
 *  saturate a core with fewer, remote ones benefit from more. */
export function defaultJobs(): number {
  return 4;
}
