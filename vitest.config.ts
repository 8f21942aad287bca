import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "dist/**"],
    // kernels share one native thread pool per process; forks keep suites independent
    pool: "forks",
    testTimeout: 60_000,
    reporters: ["default"],
  },
});
