import { type BackendOptions, createBackend } from "../src/main.js";
import type { LogLine } from "../src/request-log.js";

export interface RunningBackend {
  url: string;
  logs: LogLine[];
  stop(): Promise<void>;
}

/** A real backend on a free port of 127.0.0.1, its log lines collected instead of printed. */
export async function startBackend(options: Omit<BackendOptions, "log"> = {}): Promise<RunningBackend> {
  const logs: LogLine[] = [];
  const backend = createBackend(
    { PORT: 0, HOST: "127.0.0.1" },
    { ...options, log: (line) => logs.push(line) },
  );
  const { port } = await backend.start();
  return { url: `http://127.0.0.1:${port}`, logs, stop: () => backend.stop() };
}
