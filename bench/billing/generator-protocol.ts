/** How one generator process drives one ingest step; passed as JSON in argv[2]. */
export interface AlsGeneratorConfig {
  port: number;
  /** Concurrent StreamAccessLogs calls, each on its own HTTP/2 connection (one per Envoy worker). */
  streams: number;
  /** Entries per second, all streams together. */
  rate: number;
  warmupS: number;
  durationS: number;
  keys: number;
  customers: number;
  /** A message is flushed once it reaches this size, like Envoy's `buffer_size_bytes`. */
  batchBytes: number;
  templates: number;
  /** Seeds the choice of keys, status codes and sizes, so every step sends the same mix. */
  seed: number;
}

/** Cumulative counts at one instant (Date.now(), comparable with the orchestrator's clock). */
export interface Progress {
  at: number;
  /** Entries written to the streams so far. */
  entries: number;
  /** Of those, the ones the sidecar should count as requests (an identity and not denied). */
  counted: number;
}

export interface AlsGeneratorResult {
  entries: number;
  counted: number;
  messages: number;
  entriesPerMessage: number;
  messageBytes: number;
  /** Inside the measured window. */
  windowEntries: number;
  windowCounted: number;
  windowS: number;
  /** process.cpuUsage() over the measured window. */
  cpuS: number;
  /** Largest shortfall behind the pacing schedule inside the window, in seconds of traffic. */
  maxBehindS: number;
  /** Time inside the window during which every stream waited for 'drain' (the sidecar not reading). */
  blockedS: number;
  /** grpc-status of each stream's answer once it was ended ("none" when it never answered). */
  statuses: string[];
}

/** One JSON object per stdout line from the generator. */
export type AlsGeneratorEvent =
  | { event: "ready"; entriesPerMessage: number; messageBytes: number }
  | ({ event: "progress" } & Progress)
  | ({ event: "measuring" } & Progress)
  | ({ event: "window-end" } & Progress)
  | { event: "result"; result: AlsGeneratorResult }
  | { event: "fatal"; message: string };
