import { buildStages, parseDockerfile, type Stage } from "../../src/deploy/dockerfile.js";
import { readRepoFile } from "./repo.js";
import type { NodeService } from "./services.js";

export interface Dockerfile {
  text: string;
  stages: Stage[];
  final: Stage;
  /** The arguments of the final stage's instructions of one kind. */
  argsOf(keyword: string): string[];
}

export function loadDockerfile(service: NodeService): Dockerfile {
  const text = readRepoFile(`${service}/Dockerfile`);
  const stages = buildStages(parseDockerfile(text));
  const final = stages.at(-1);
  if (!final) throw new Error(`${service}/Dockerfile has no FROM`);
  return {
    text,
    stages,
    final,
    argsOf: (keyword) => final.instructions.filter((i) => i.keyword === keyword).map((i) => i.args),
  };
}

/** The ports a Dockerfile's final stage EXPOSEs. */
export const exposedPorts = (dockerfile: Dockerfile) =>
  dockerfile.argsOf("EXPOSE").flatMap((args) => args.split(/\s+/).map((p) => Number(p.split("/")[0])));
