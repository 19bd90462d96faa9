import type { TestProject } from "vitest/node";
import { createTemplate } from "./databases.js";
import { resolveServices } from "./services.js";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    templateDatabase: string;
  }
}

/** Once per run: find Postgres and Redis, and build the migrated template database. */
export default async function setup(project: TestProject) {
  const services = await resolveServices();
  const template = await createTemplate(services.databaseUrl);
  project.provide("databaseUrl", services.databaseUrl);
  project.provide("redisUrl", services.redisUrl);
  project.provide("templateDatabase", template.name);
  return async () => {
    await template.drop();
    await services.stop();
  };
}
