import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { createTemplateDatabase, dropTemplateDatabase, TEST_RUNS_DIR } from "./db.js";

// Migrates one template database for the whole run; every test file gets a copy of it (Unleash's
// template-per-file pattern), so files are isolated without migrating or truncating each time.
export default async function setup(project: TestProject) {
  const runDir = join(TEST_RUNS_DIR, `run-${process.pid}-${Date.now()}`);
  mkdirSync(runDir, { recursive: true });
  const template = await createTemplateDatabase(runDir);
  project.provide("testRunDir", runDir);
  project.provide("templateDatabase", template);
  return async () => {
    await dropTemplateDatabase(template);
    rmSync(runDir, { recursive: true, force: true });
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    testRunDir: string;
    templateDatabase: string;
  }
}
