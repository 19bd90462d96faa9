/**
 * Access-log messages as Envoy's gRPC access logger sends them, encoded once with the same
 * proto-loader definition the sidecar decodes with, with placeholders where each entry's request id
 * and start time go (replay.ts fills them in for every copy sent).
 */
import { loadEnvoyServices, type StreamAccessLogsMessage } from "@gateway/proto";
import { ID_LENGTH, PLACEHOLDER_SECONDS, varint } from "./replay.js";

type Entry = NonNullable<NonNullable<StreamAccessLogsMessage["http_logs"]>["log_entry"]>[number];

export interface BenchKey {
  id: string;
  userId: string;
  customer: string;
}

/** What one entry of a template says; fixed for the run, only start_time changes. */
interface Slot {
  key: BenchKey | undefined;
  code: number | undefined;
  denied: string | undefined;
  path: string;
  method: "GET" | "POST" | "PUT" | "DELETE";
  requestBodyBytes: number;
  responseBodyBytes: number;
  durationMs: number;
  /** The sidecar counts it as a request: an identity, and not denied by ext_authz. */
  counted: boolean;
}

export interface Template {
  /** A length-prefixed gRPC frame holding one StreamAccessLogsMessage with `entries` entries. */
  frame: Buffer;
  /** Where each entry's request_id and stream_id start (two per entry, in entry order). */
  idOffsets: number[];
  /** Where each entry's start_time.seconds varint starts (always 5 bytes for today's times). */
  secondsOffsets: number[];
  entries: number;
  counted: number;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PATHS = ["/v1/things", "/v1/things/42", "/v1/search?q=widgets&page=2", "/v1/orders", "/v1/users/me"];
const AGENTS = ["curl/8.5.0", "python-requests/2.32.3", "okhttp/4.12.0", "Go-http-client/2.0"];

/** mulberry32: a small seeded PRNG, so every step sends the same mix of keys and codes. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function base62(random: () => number, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += BASE62[Math.floor(random() * 62)];
  return out;
}

/** `keys` keys over `customers` users, each user with its own Stripe customer, ids shaped like the real ones. */
export function benchKeys(keys: number, customers: number, random: () => number): BenchKey[] {
  const owners = Array.from({ length: customers }, (_, i) => ({
    userId: `bench-user-${i}`,
    customer: `cus_${base62(random, 14)}`,
  }));
  return Array.from({ length: keys }, (_, i) => {
    const owner = owners[i % customers] as (typeof owners)[number];
    return { id: `key_${base62(random, 22)}`, ...owner };
  });
}

/** Mostly 200s, some other 2xx/3xx, 4xx and 5xx, a few without a response; about 1% not usage at all. */
function drawSlot(keys: BenchKey[], random: () => number): Slot {
  const key = keys[Math.floor(random() * keys.length)] as BenchKey;
  const r = random();
  const base = {
    key,
    denied: undefined,
    path: PATHS[Math.floor(random() * PATHS.length)] as string,
    method: random() < 0.8 ? ("GET" as const) : ("POST" as const),
    requestBodyBytes: Math.floor(random() * 2_000),
    responseBodyBytes: 200 + Math.floor(random() * 20_000),
    durationMs: 2 + Math.floor(random() * 200),
    counted: true,
  };
  if (r < 0.005) return { ...base, key: undefined, code: 200, path: "/health", counted: false };
  if (r < 0.012) return { ...base, code: 429, denied: "RATE_LIMITED", responseBodyBytes: 60, counted: false };
  const codes: [number | undefined, number][] = [
    [200, 0.88],
    [201, 0.03],
    [204, 0.01],
    [304, 0.01],
    [400, 0.02],
    [404, 0.025],
    [422, 0.005],
    [500, 0.008],
    [503, 0.005],
    [504, 0.002],
  ];
  let pick = random();
  for (const [code, share] of codes) {
    pick -= share;
    if (pick < 0) return { ...base, code };
  }
  // The downstream reset before any response: a request, not billable.
  return { ...base, code: undefined };
}

function entryFor(slot: Slot, requestId: string, startSeconds: number, nanos: number): Entry {
  const fields: Record<string, object> = {};
  if (slot.key) {
    fields.api_key_id = { stringValue: slot.key.id };
    fields.user_id = { stringValue: slot.key.userId };
    fields.stripe_customer_id = { stringValue: slot.key.customer };
    if (slot.denied) fields.denied_reason = { stringValue: slot.denied };
    else fields.ext_authz_duration = { numberValue: 1 };
  }
  const upstream = slot.key !== undefined && !slot.denied;
  const durationNanos = slot.durationMs * 1_000_000;
  return {
    common_properties: {
      start_time: { seconds: String(startSeconds), nanos },
      downstream_remote_address: { socket_address: { address: "203.0.113.9", port_value: 51234 } },
      downstream_local_address: { socket_address: { address: "10.0.0.2", port_value: 8080 } },
      time_to_last_rx_byte: { nanos: 150_000 },
      time_to_last_downstream_tx_byte: { nanos: durationNanos },
      duration: { nanos: durationNanos },
      ...(upstream
        ? {
            upstream_cluster: "backend",
            upstream_remote_address: { socket_address: { address: "10.0.1.7", port_value: 3000 } },
            route_name: "api",
          }
        : {}),
      ...(Object.keys(fields).length > 0
        ? { metadata: { filter_metadata: { "envoy.filters.http.ext_authz": { fields } } } }
        : {}),
      stream_id: requestId,
      access_log_type: "DownstreamEnd",
      ...(slot.denied ? { response_flags: { unauthorized_details: { reason: "EXTERNAL_SERVICE" } } } : {}),
    },
    protocol_version: "HTTP11",
    request: {
      request_method: slot.method,
      scheme: "https",
      authority: "api.example.com",
      path: slot.path,
      user_agent: AGENTS[slot.requestBodyBytes % AGENTS.length] as string,
      forwarded_for: "198.51.100.23",
      request_id: requestId,
      request_headers_bytes: "412",
      request_body_bytes: String(slot.method === "GET" ? 0 : slot.requestBodyBytes),
    },
    response: {
      ...(slot.code === undefined ? {} : { response_code: { value: slot.code } }),
      response_headers_bytes: "180",
      response_body_bytes: String(slot.code === undefined ? 0 : slot.responseBodyBytes),
      response_code_details: slot.denied ? "ext_authz_denied" : "via_upstream",
    },
  };
}

const serialize = (message: StreamAccessLogsMessage): Buffer =>
  loadEnvoyServices().envoy.service.accesslog.v3.AccessLogService.service.StreamAccessLogs.requestSerialize(
    message,
  );

function frameOf(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** A placeholder id unique to one entry of one template, found again in the encoded bytes. */
const placeholder = (template: number, entry: number) =>
  `zz${String(template).padStart(5, "0")}${String(entry).padStart(5, "0")}`.padEnd(ID_LENGTH, "z");

/** The mix of entries each template holds, drawn once per run. */
export class TemplateSet {
  private readonly slots: Slot[][];

  constructor(
    keys: BenchKey[],
    templates: number,
    readonly entriesPerMessage: number,
    random: () => number,
  ) {
    this.slots = Array.from({ length: templates }, () =>
      Array.from({ length: entriesPerMessage }, () => drawSlot(keys, random)),
    );
  }

  /** How many entries make a message of at least `batchBytes` (Envoy flushes once it gets there). */
  static entriesPerMessage(keys: BenchKey[], batchBytes: number, random: () => number): number {
    const sample = Array.from({ length: 64 }, () => drawSlot(keys, random));
    const bytes = serialize({
      http_logs: { log_entry: sample.map((slot) => entryFor(slot, "0".repeat(ID_LENGTH), 1_800_000_000, 1)) },
    }).length;
    return Math.max(1, Math.ceil(batchBytes / (bytes / sample.length)));
  }

  /**
   * Every template, encoded once (proto-loader's serializer costs tens of µs an entry): ids are
   * placeholders to stamp, start_time a placeholder that setStartSeconds() overwrites in place.
   */
  encode(): Template[] {
    const secondsNeedle = Buffer.from([0x08, ...varint(PLACEHOLDER_SECONDS)]);
    return this.slots.map((slots, t) => {
      const entries = slots.map((slot, e) =>
        entryFor(slot, placeholder(t, e), PLACEHOLDER_SECONDS, 1_000 * (e + 1)),
      );
      const frame = frameOf(serialize({ http_logs: { log_entry: entries } }));
      const idOffsets: number[] = [];
      // Entries are encoded in order, each id twice (stream_id, then request_id): search onwards only.
      let from = 0;
      for (let e = 0; e < slots.length; e++) {
        const needle = Buffer.from(placeholder(t, e), "latin1");
        const first = frame.indexOf(needle, from);
        const second = first < 0 ? -1 : frame.indexOf(needle, first + ID_LENGTH);
        if (second < 0)
          throw new Error(`template ${t} entry ${e}: its id is not twice in the encoded message`);
        idOffsets.push(first, second);
        from = second + ID_LENGTH;
      }
      const secondsOffsets: number[] = [];
      for (let at = frame.indexOf(secondsNeedle); at >= 0; at = frame.indexOf(secondsNeedle, at + 1)) {
        secondsOffsets.push(at + 1);
      }
      if (secondsOffsets.length !== slots.length) {
        throw new Error(
          `template ${t}: found ${secondsOffsets.length} start times for ${slots.length} entries`,
        );
      }
      return {
        frame,
        idOffsets,
        secondsOffsets,
        entries: slots.length,
        counted: slots.filter((s) => s.counted).length,
      };
    });
  }
}

/** Decodes a frame as the sidecar does, to check what the generator will send. */
export function decodeFrame(frame: Buffer) {
  return loadEnvoyServices().envoy.service.accesslog.v3.AccessLogService.service.StreamAccessLogs.requestDeserialize(
    frame.subarray(5),
  );
}

/** The identifier Envoy puts on the first message of every stream: a message merged in front of the first batch. */
export function identifierBytes(nodeId: string): Buffer {
  return serialize({
    identifier: { node: { id: nodeId, cluster: "edge", user_agent_name: "envoy" }, log_name: "billing" },
  });
}
