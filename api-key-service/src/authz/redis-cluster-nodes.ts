import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { onceASecond, parseRedisUrl } from "@gateway/common";
import { SLOTS } from "./redis-cluster-slot.js";
import {
  encodeCommand,
  type Reply,
  ScriptConnection,
  type ScriptConnectionOptions,
  type ScriptNodes,
} from "./script-connection.js";

export interface ClusterNodesOptions extends Omit<ScriptConnectionOptions, "node"> {
  /** While a slot has no connected primary, the slot map is read again this often. */
  refreshIntervalMs?: number;
}

const CLUSTER_SLOTS = encodeCommand(["CLUSTER", "SLOTS"]);
/** Two reads of the slot map are at least this far apart, however many failures ask for one. */
const MIN_REFRESH_GAP_MS = 100;

/**
 * The primaries of a Redis Cluster, one ScriptConnection each, and which one serves each hash slot.
 * The map comes from CLUSTER SLOTS, asked of any connected node (at first the seed nodes of the
 * URL), and is read again after a MOVED reply, when a connection is lost, and every
 * `refreshIntervalMs` while some slot has no connected primary (a failover in progress). Connections
 * to nodes that no longer serve slots are closed. A check never waits for the map: while its slot has
 * no ready node it fails at once, and the rate-limit failure mode decides.
 */
export class ClusterNodes extends EventEmitter<{ ready: [] }> implements ScriptNodes {
  readonly cluster = true;
  readonly sha: string;
  private slots: (ScriptConnection | undefined)[] = new Array(SLOTS).fill(undefined);
  private readonly connections = new Map<string, ScriptConnection>();
  /** Where the map can be asked for when no connection is up: the seeds and every node seen since. */
  private readonly known = new Set<string>();
  private refreshing = false;
  private lastRefresh = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly refreshIntervalMs: number;
  private readonly report: (err: Error) => void;

  constructor(private readonly options: ClusterNodesOptions) {
    super();
    for (const node of parseRedisUrl(options.url).nodes) this.known.add(`${node.host}:${node.port}`);
    this.refreshIntervalMs = options.refreshIntervalMs ?? 500;
    this.report = onceASecond(options.onError);
    this.sha = createHash("sha1").update(options.script).digest("hex");
  }

  get isReady(): boolean {
    return this.slots.every((node) => node?.isReady === true);
  }

  connect(): void {
    if (this.closed) return;
    for (const address of this.known) this.connectionTo(address);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.refreshTimer);
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }

  nodeFor(slot: number): ScriptConnection | undefined {
    return this.slots[slot];
  }

  nodeAt(address: string): ScriptConnection | undefined {
    return this.closed ? undefined : this.connectionTo(address);
  }

  moved(slot: number, address: string): void {
    if (this.closed) return;
    this.slots[slot] = this.connectionTo(address);
    this.refreshSoon();
  }

  suspect(): void {
    this.refreshSoon();
  }

  private connectionTo(address: string): ScriptConnection {
    let connection = this.connections.get(address);
    if (!connection) {
      const colon = address.lastIndexOf(":");
      const node = { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
      connection = new ScriptConnection({ ...this.options, node });
      connection.on("ready", () => this.connected());
      connection.on("lost", () => this.refreshSoon());
      this.connections.set(address, connection);
      this.known.add(address);
      connection.connect();
    }
    return connection;
  }

  private connected(): void {
    // The first node up gives the map; later ones may complete it.
    if (this.slots.every((node) => node === undefined)) this.refreshSoon();
    else if (this.isReady) this.emit("ready");
  }

  /** Reads the map now, or as soon as the last read is MIN_REFRESH_GAP_MS old. */
  private refreshSoon(): void {
    if (this.closed || this.refreshTimer) return;
    const wait = Math.max(0, this.lastRefresh + MIN_REFRESH_GAP_MS - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh();
    }, wait);
    this.refreshTimer.unref();
  }

  private refresh(): void {
    if (this.closed || this.refreshing) return;
    const via = [...this.connections.values()].find((connection) => connection.isReady);
    if (!via) {
      // Nothing connected: try every node ever seen; the first to connect is asked.
      for (const address of this.known) this.connectionTo(address);
      return;
    }
    this.refreshing = true;
    this.lastRefresh = Date.now();
    // A node that accepts the question and never answers must not stop all later reads.
    const timer = setTimeout(() => via.reset("Redis did not answer CLUSTER SLOTS in time"), 1_000);
    via.send(CLUSTER_SLOTS, [
      (err, reply) => {
        clearTimeout(timer);
        this.refreshing = false;
        if (this.closed) return;
        if (err) this.report(new Error(`CLUSTER SLOTS failed on ${via.address}: ${err.message}`));
        else this.apply(reply, via.address);
        if (!this.isReady) this.retryLater();
      },
    ]);
  }

  private retryLater(): void {
    if (this.closed || this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh();
    }, this.refreshIntervalMs);
    this.refreshTimer.unref();
  }

  /** CLUSTER SLOTS: [[start, end, [host, port, id…] (the primary), [replica]…], …]. */
  private apply(reply: Reply, askedAddress: string): void {
    if (!Array.isArray(reply)) return;
    const askedHost = askedAddress.slice(0, askedAddress.lastIndexOf(":"));
    const slots: (ScriptConnection | undefined)[] = new Array(SLOTS).fill(undefined);
    const primaries = new Set<ScriptConnection>();
    for (const range of reply) {
      if (!Array.isArray(range) || range.length < 3) continue;
      const [start, end, ...nodes] = range;
      if (typeof start !== "number" || typeof end !== "number") continue;
      const addresses = nodes.map((node) => {
        if (!Array.isArray(node)) return undefined;
        const [host, port] = node;
        // An empty host (or "?") means "the address you asked me on".
        const name = typeof host === "string" && host !== "" && host !== "?" ? host : askedHost;
        return typeof port === "number" ? `${name}:${port}` : undefined;
      });
      for (const address of addresses) if (address) this.known.add(address);
      const primary = addresses[0];
      if (!primary) continue;
      const connection = this.connectionTo(primary);
      primaries.add(connection);
      for (let slot = Math.max(0, start); slot <= Math.min(SLOTS - 1, end); slot++) slots[slot] = connection;
    }
    if (primaries.size === 0) return;
    this.slots = slots;
    for (const [address, connection] of this.connections) {
      if (primaries.has(connection)) continue;
      connection.retire(2_000);
      this.connections.delete(address);
    }
    if (this.isReady) this.emit("ready");
  }
}
