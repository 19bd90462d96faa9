import { type ManagedProcess, type StartOptions, startProcess } from "./process.js";

export interface ReportingOptions<E> extends Omit<StartOptions, "onLine"> {
  /** Each line of stdout that is a JSON value. */
  onEvent(event: E): void;
  /** Any other line, stderr's included. Default: printed with the process's name in front. */
  onOther?(line: string): void;
}

/**
 * A child that reports to its parent as JSON lines on stdout (a load generator, a helper server
 * announcing its port): each event is handed over as it arrives.
 */
export function startReporting<E>(options: ReportingOptions<E>): ManagedProcess {
  const {
    onEvent,
    onOther = (line) => process.stdout.write(`  [${options.name}] ${line}\n`),
    ...start
  } = options;
  return startProcess({
    ...start,
    onLine: (line, stream) => {
      if (stream === "stdout") {
        let event: E;
        try {
          event = JSON.parse(line) as E;
        } catch {
          onOther(line);
          return;
        }
        onEvent(event);
      } else onOther(line);
    },
  });
}

export interface PortServer extends ManagedProcess {
  port: number;
}

/**
 * A helper server that prints `{"port":N}` once bound, with a pipe to its stdin kept open: a server
 * that exits when its stdin closes goes with this process however it ends.
 */
export async function startPortServer(
  options: Omit<StartOptions, "onLine" | "stdin">,
  timeoutMs = 30_000,
): Promise<PortServer> {
  let port: number | undefined;
  const server = startReporting<{ port?: unknown }>({
    ...options,
    stdin: "pipe",
    onEvent: (event) => {
      if (typeof event?.port === "number") port = event.port;
    },
  });
  await server.waitUntilReady(async () => port !== undefined, timeoutMs);
  return Object.assign(server, { port: port as number });
}
