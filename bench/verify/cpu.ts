import { performance } from "node:perf_hooks";
import { cpuSeconds, cpuSecondsBetween, cpuSecondsByPid, machineBusySeconds } from "@gateway/harness";

interface CpuSnapshot {
  atS: number;
  server: number;
  generator: number;
  redis: Map<number, number>;
  machine: number;
}

/** Cores' worth of CPU each party used over a window. `other` is the rest of the machine. */
export interface CpuShare {
  windowS: number;
  server: number;
  redis: number;
  generator: number;
  other: number;
}

export function cpuSnapshot(serverPid: number, generatorPid: number): CpuSnapshot {
  return {
    atS: performance.now() / 1000,
    server: cpuSeconds(serverPid),
    generator: cpuSeconds(generatorPid),
    redis: cpuSecondsByPid("redis-server"),
    machine: machineBusySeconds(),
  };
}

export function cpuShare(before: CpuSnapshot, after: CpuSnapshot): CpuShare {
  const windowS = after.atS - before.atS;
  const server = after.server - before.server;
  const generator = after.generator - before.generator;
  const redis = cpuSecondsBetween(before.redis, after.redis);
  const other = Math.max(0, after.machine - before.machine - server - generator - redis);
  const cores = (seconds: number) => (windowS > 0 ? seconds / windowS : 0);
  return {
    windowS,
    server: cores(server),
    redis: cores(redis),
    generator: cores(generator),
    other: cores(other),
  };
}
