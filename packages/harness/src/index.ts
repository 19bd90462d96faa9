export { Cleanup, runAsProcess } from "./cleanup.js";
export { DocSection } from "./doc-section.js";
export { Histogram, type LatencySummary } from "./histogram.js";
export { log } from "./log.js";
export {
  BUSY_WARNING,
  busyCores,
  describeMachine,
  KDAMOND,
  type MachineInfo,
  waitForQuiet,
} from "./machine.js";
export { counterDelta, counterDeltaByLabel, scrapeMetrics, sum } from "./metrics.js";
export { freePort, httpAnswers, portOpen, tcpLocalPortsTo } from "./ports.js";
export {
  type Exit,
  killAllProcessesNow,
  type ManagedProcess,
  onLines,
  type StartOptions,
  startProcess,
  stopAllProcesses,
  tsxCommand,
} from "./process.js";
export { type PortServer, type ReportingOptions, startPortServer, startReporting } from "./reporting.js";
export { integerSetting, loopbackUrl, readFlags } from "./settings.js";
export {
  CLOCK_TICKS_PER_S,
  cpuSeconds,
  cpuSecondsBetween,
  cpuSecondsByPid,
  type MemorySample,
  machineBusySeconds,
  memoryOf,
} from "./usage.js";
export { GiveUp, sleep, waitFor } from "./wait.js";
