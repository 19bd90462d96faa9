import { resolve } from "node:path";
import { integerSetting, loopbackUrl } from "@gateway/harness";

export type StripeMode = "v1" | "stream";

export interface BillingBenchOptions {
  /** Entries per second of each ingest step, lowest first; the ladder stops at the first step that fails. */
  rates: number[];
  warmupS: number;
  durationS: number;
  /** Concurrent access-log streams, one per Envoy worker. */
  streams: number;
  keys: number;
  customers: number;
  /** Envoy's `buffer_size_bytes`: a worker flushes its batch once it is this big. */
  batchBytes: number;
  /** Distinct pre-encoded batches the generator replays (with new request ids each time). */
  templates: number;
  /** Stripe phase: customers × closed minutes seeded into usage_minutes, one meter event each. */
  stripeCustomers: number;
  stripeMinutes: number;
  stripeModes: StripeMode[];
  /** STRIPE_SEND_INTERVAL of each Stripe run ("2s" is the sidecar's default). */
  stripeSendIntervals: string[];
  /** The emulator's processing time per v1 call (real Stripe: tens to hundreds of ms). */
  stripeLatencyMs: number;
  phases: { ingest: boolean; stripe: boolean };
  /** When set, the sidecar runs with --cpu-prof and writes its profiles here. */
  cpuProfileDir: string | undefined;
  pgUrl: string;
  output: string;
}

function listSetting<T>(name: string, fallback: string, parse: (item: string) => T | undefined): T[] {
  const raw = process.env[name] || fallback;
  const items = raw.split(",").map((item) => item.trim());
  const parsed = items.map(parse);
  if (items.length === 0 || parsed.some((item) => item === undefined)) {
    throw new Error(`${name} must be a comma-separated list such as "${fallback}" (got "${raw}")`);
  }
  return parsed as T[];
}

const positiveInteger = (item: string) => {
  const n = Number(item.replace(/_/g, ""));
  return Number.isInteger(n) && n > 0 && n <= 2_000_000 ? n : undefined;
};

/** Settings from BENCH_* environment variables, each bounded. */
export function readBillingOptions(repoRoot: string): BillingBenchOptions {
  const phases = listSetting("BENCH_BILLING_PHASES", "ingest,stripe", (p) =>
    p === "ingest" || p === "stripe" ? p : undefined,
  );
  const cpuProfileDir = process.env.BENCH_BILLING_CPU_PROF;
  return {
    rates: listSetting("BENCH_BILLING_RATES", "25000,50000,75000,100000,125000,150000", positiveInteger).sort(
      (a, b) => a - b,
    ),
    warmupS: integerSetting("BENCH_BILLING_WARMUP_S", 5, 1, 60),
    durationS: integerSetting("BENCH_BILLING_DURATION_S", 15, 3, 300),
    streams: integerSetting("BENCH_BILLING_STREAMS", 4, 1, 64),
    keys: integerSetting("BENCH_BILLING_KEYS", 1_000, 1, 1_000_000),
    customers: integerSetting("BENCH_BILLING_CUSTOMERS", 100, 1, 100_000),
    batchBytes: integerSetting("BENCH_BILLING_BATCH_BYTES", 16_384, 256, 1_000_000),
    templates: integerSetting("BENCH_BILLING_TEMPLATES", 64, 1, 4_096),
    stripeCustomers: integerSetting("BENCH_BILLING_STRIPE_CUSTOMERS", 500, 1, 100_000),
    stripeMinutes: integerSetting("BENCH_BILLING_STRIPE_MINUTES", 8, 1, 600),
    stripeModes: listSetting("BENCH_BILLING_STRIPE_MODES", "v1,stream", (m) =>
      m === "v1" || m === "stream" ? m : undefined,
    ),
    stripeSendIntervals: listSetting("BENCH_BILLING_STRIPE_SEND_INTERVALS", "2s,100ms", (d) =>
      /^\d+(ms|s|m)$/.test(d) ? d : undefined,
    ),
    stripeLatencyMs: integerSetting("BENCH_BILLING_STRIPE_LATENCY_MS", 0, 0, 10_000),
    phases: { ingest: phases.includes("ingest"), stripe: phases.includes("stripe") },
    cpuProfileDir: cpuProfileDir ? resolve(repoRoot, cpuProfileDir) : undefined,
    pgUrl: loopbackUrl("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test"),
    output: resolve(repoRoot, process.env.BENCH_BILLING_OUTPUT || "docs/PERFORMANCE-BILLING.md"),
  };
}
