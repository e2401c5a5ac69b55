import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    pool: "forks",
    // Two cores: two test files at a time; each integration file has its own database and servers.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], testTimeout: 10_000 },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        // npm run test:faults: kills, outages, fuzzing; slower, run by .ci/run after the main suite.
        test: {
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 240_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
