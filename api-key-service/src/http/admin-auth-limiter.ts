import { isIPv6 } from "node:net";
import type { Logger } from "@gateway/common";
import { LRUCache } from "lru-cache";
import { Counter, type Registry } from "prom-client";

export interface AdminAuthLimits {
  /** Failed admin authentications an address may make within the window before it is refused. */
  maxFailures: number;
  windowMs: number;
}

/** Addresses remembered at once; the least recently seen is forgotten first. */
const MAX_ADDRESSES = 10_000;

interface Failures {
  /** When each failure inside the window happened, oldest first; never more than maxFailures. */
  times: number[];
  /** When the last "blocked" warning for this address was logged. */
  warnedAt: number;
}

/**
 * Counts failed admin authentications per client address in a sliding window, and refuses an address
 * that made `maxFailures` of them until the oldest leaves the window. A refused request is answered
 * before its token is compared, so it guesses nothing and is not counted as another failure.
 *
 * Per replica, in memory: with R replicas behind a balancer an address gets at most
 * `maxFailures × R` guesses per window. A generated admin token (openssl rand -hex 32) has 256 bits,
 * so this limit stops and surfaces brute force rather than being what makes guessing infeasible;
 * sharing it through Redis would put a network call and a dependency in front of every management
 * request for little gain.
 *
 * Memory is bounded: at most MAX_ADDRESSES addresses, each holding at most `maxFailures` times.
 */
export class AdminAuthLimiter {
  private readonly failures = new LRUCache<string, Failures>({ max: MAX_ADDRESSES });
  private readonly refused: Counter;

  constructor(
    private readonly limits: AdminAuthLimits,
    registry: Registry,
    private readonly logger: Logger,
  ) {
    this.refused = new Counter({
      name: "admin_auth_refused_total",
      help: "Management API requests refused (429) without comparing their token, because their address failed admin authentication too often",
      registers: [registry],
    });
  }

  /** Milliseconds until this address may try again; 0 when it may now. Counts a refusal. */
  blockedFor(address: string, now = Date.now()): number {
    const entry = this.current(addressBlock(address), now);
    if (!entry || entry.times.length < this.limits.maxFailures) return 0;
    this.refused.inc();
    return (entry.times[0] ?? now) + this.limits.windowMs - now;
  }

  /**
   * A success deliberately does not clear the failures: behind a shared address (a NAT, or a proxy
   * while TRUST_PROXY is off) a legitimate client's calls would otherwise reset an attacker's count
   * and allow guessing without end. Failures only ever leave by ageing out of the window.
   */
  recordFailure(address: string, now = Date.now()): void {
    const block = addressBlock(address);
    const entry = this.current(block, now) ?? { times: [], warnedAt: Number.NEGATIVE_INFINITY };
    entry.times.push(now);
    this.failures.set(block, entry);
    if (entry.times.length >= this.limits.maxFailures && now - entry.warnedAt >= this.limits.windowMs) {
      entry.warnedAt = now;
      this.logger.warn(
        { client_ip: block, failures: entry.times.length, window_ms: this.limits.windowMs },
        "repeated failed admin authentication: refusing this address until its failures age out",
      );
    }
  }

  /** The address's failures still inside the window, or undefined when it has none. */
  private current(block: string, now: number): Failures | undefined {
    const entry = this.failures.get(block);
    if (!entry) return undefined;
    const since = now - this.limits.windowMs;
    while ((entry.times[0] ?? now) <= since) entry.times.shift();
    if (entry.times.length > 0) return entry;
    this.failures.delete(block);
    return undefined;
  }
}

/**
 * What one client is counted as: an IPv4 address itself, an IPv6 address's /64 (one host is usually
 * given a whole /64, so counting single IPv6 addresses would let it rotate through them).
 */
export function addressBlock(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  const bare = address.split("%")[0] ?? "";
  if (!isIPv6(bare)) return address;
  const [head = "", tail] = bare.split("::");
  const groups = (part: string | undefined) =>
    // An embedded IPv4 (64:ff9b::a.b.c.d) fills the last two groups.
    part ? part.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])) : [];
  const left = groups(head);
  const right = groups(tail);
  const full =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const prefix = full.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16));
  return `${prefix.join(":")}::/64`;
}
