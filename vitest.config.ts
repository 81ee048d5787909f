import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tools/test/**/*.test.ts"],
    // Real registries and peer tools: slow, and the machines have 2 cores.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    globalSetup: ["tools/test/harness/global-setup.ts"],
  },
});
