import { bearer, envoyCheckRequest, metadataOf } from "../api-key-service/test/envoy.js";
import type { Api } from "../api-key-service/test/fixtures.js";
import { StallWatch } from "./stall-watch.js";

/** Envoy's default ext_authz timeout: an answer later than this is as good as none. */
export const ENVOY_DEADLINE_MS = 200;

export interface CheckSample {
  /** performance.now() when the check was sent and when its answer (or error) arrived. */
  startedAt: number;
  endedAt: number;
  ms: number;
  /** "allowed", the denied_reason, or "error: <message>" when the RPC failed (deadline included). */
  outcome: string;
  /** denied_response.status.code, e.g. "ServiceUnavailable". */
  httpStatus?: string | undefined;
  retryAfter?: string | undefined;
}

/** One check with Envoy's deadline, never rejecting: a failed RPC is a sample with an error outcome. */
export async function timedCheck(api: Api, key: string): Promise<CheckSample> {
  const startedAt = performance.now();
  let response: Awaited<ReturnType<Api["check"]>>;
  try {
    response = await api.check(envoyCheckRequest({ headers: bearer(key) }), ENVOY_DEADLINE_MS);
  } catch (err) {
    const endedAt = performance.now();
    return { startedAt, endedAt, ms: endedAt - startedAt, outcome: `error: ${(err as Error).message}` };
  }
  const endedAt = performance.now();
  const denied = response.denied_response;
  return {
    startedAt,
    endedAt,
    ms: endedAt - startedAt,
    outcome: response.status?.code === 0 ? "allowed" : (metadataOf(response).denied_reason ?? "denied"),
    httpStatus: denied?.status?.code,
    retryAfter: denied?.headers?.find((h) => h.header?.key === "retry-after")?.header?.value,
  };
}

export interface CheckLoad {
  samples: CheckSample[];
  /** Checks sent at or after `from` and answered at or before `to`. */
  within(from: number, to: number): CheckSample[];
  /** Checks in flight at some time in [from, to]. */
  overlapping(from: number, to: number): CheckSample[];
  /** Resolves once `count` more checks have been answered. */
  more(count: number): Promise<void>;
  /** When this process's event loop (client and service alike) stood still during the load. */
  stalls: StallWatch;
  stop(): Promise<void>;
}

/**
 * Continuous Check traffic, as Envoy sends it: `workers` loops, each sending its next check when the
 * last one is answered (after `pauseMs`, so the load leaves the shared cores some room).
 */
export function startCheckLoad(api: Api, keys: string[], { workers = 4, pauseMs = 5 } = {}): CheckLoad {
  const samples: CheckSample[] = [];
  const stalls = new StallWatch();
  const waiters: { count: number; resolve: () => void }[] = [];
  let running = true;
  const worker = async (offset: number) => {
    for (let i = offset; running; i++) {
      samples.push(await timedCheck(api, keys[i % keys.length] as string));
      for (const w of waiters.filter((w) => samples.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const loops = Array.from({ length: workers }, (_, i) => worker(i));
  return {
    samples,
    within: (from, to) => samples.filter((s) => s.startedAt >= from && s.endedAt <= to),
    overlapping: (from, to) => samples.filter((s) => s.endedAt >= from && s.startedAt <= to),
    more: (count) =>
      new Promise((resolve) => {
        waiters.push({ count: samples.length + count, resolve });
      }),
    stalls,
    /** Waits for the checks in flight; safe to call twice. */
    async stop() {
      running = false;
      await Promise.all(loops);
      stalls.stop();
      for (const w of waiters) w.resolve();
    },
  };
}

/** Polls `probe` every `intervalMs` until it returns true; the time of success, or null at `timeoutMs`. */
export async function firstSuccess(
  probe: () => Promise<{ ok: boolean; at: number }>,
  { intervalMs = 20, timeoutMs = 10_000 } = {},
): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const { ok, at } = await probe();
    if (ok) return at;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return null;
}

/** The value of one Prometheus counter series, 0 when it has not been created yet. */
export async function counter(api: Api, series: string): Promise<number> {
  const line = (await api.metricsText()).split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Collects unhandled rejections while a scenario runs, so the test can fail on them by name. */
export function watchUnhandledRejections(): { errors: unknown[]; dispose: () => void } {
  const errors: unknown[] = [];
  const listener = (reason: unknown) => errors.push(reason);
  process.on("unhandledRejection", listener);
  return { errors, dispose: () => process.removeListener("unhandledRejection", listener) };
}

export interface DeadlineReport {
  /** Checks answered after Envoy's deadline or not at all, described relative to an event. */
  late: string[];
  /** Late only because the OS did not run this process: without that time they were in time. */
  starved: number;
}

/**
 * Which checks missed Envoy's deadline. A check is excused only for the time the whole process was
 * not running (other processes had the cores): that says nothing of the service.
 */
export function deadlineReport(
  samples: CheckSample[],
  stalls: StallWatch,
  origin: number,
  originName: string,
): DeadlineReport {
  const report: DeadlineReport = { late: [], starved: 0 };
  for (const s of samples) {
    const failed = s.outcome.startsWith("error");
    if (s.ms < ENVOY_DEADLINE_MS && !failed) continue;
    // A missed deadline may be the OS's doing; any other failed RPC is the service's.
    const excusable = !failed || s.outcome.startsWith("error: 4 DEADLINE_EXCEEDED");
    if (excusable && s.ms - stalls.starvedMs(s.startedAt, s.endedAt) < ENVOY_DEADLINE_MS) {
      report.starved++;
      continue;
    }
    report.late.push(
      `${Math.round(s.ms)} ms (${s.outcome}), sent ${Math.round(s.startedAt - origin)} ms after ${originName}`,
    );
  }
  return report;
}

/** The message of the deadline assertion, with what this process's event loop went through. */
export const withinDeadline = (load: CheckLoad) =>
  `answered within ${ENVOY_DEADLINE_MS} ms (this process's event loop, client and service, stood still ` +
  `for up to ${Math.round(load.stalls.maxMs)} ms)`;

/** Checks during which the event loop stood still for at least `ms`. */
export const stalledFor = (samples: CheckSample[], stalls: StallWatch, ms: number) =>
  samples.filter((s) => stalls.during(s.startedAt, s.endedAt, ms).length > 0);

/** Holds a phase of a scenario (an outage) until `at`, a performance.now() time. */
export const sleepUntil = (at: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())));

/** What a scenario started, released last first whether it passed or not. */
export class Teardown {
  private readonly steps: (() => Promise<void> | void)[] = [];

  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.reverse()) await step();
  }
}

/** One line per measured figure, easy to grep from the run's output. */
export function figure(name: string, value: number, unit = "ms"): void {
  console.info(`FIGURE ${name}: ${Math.round(value)} ${unit}`);
}

export const summarize = (samples: CheckSample[]) => {
  const outcomes: Record<string, number> = {};
  for (const s of samples) outcomes[s.outcome] = (outcomes[s.outcome] ?? 0) + 1;
  return outcomes;
};
