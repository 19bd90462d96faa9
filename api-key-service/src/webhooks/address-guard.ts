import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import ipaddr from "ipaddr.js";

/** The host is, or resolves to, an address a webhook must not reach; the message is safe to show. */
export class RefusedDestination extends Error {
  override name = "RefusedDestination";
}

export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export interface AddressGuardOptions {
  /** Hosts reached whatever they resolve to (tests, an operator's own receivers). */
  allowedHosts: readonly string[];
  /** How long resolving may take. */
  timeoutMs: number;
  resolve?: Resolve;
}

const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** `[::1]` → `::1`, `Example.COM.` → `example.com`: the forms a host is compared in. */
const normalHost = (host: string) =>
  host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");

/**
 * Only globally routable unicast addresses are public. ipaddr.js names every special range
 * (loopback, private, uniqueLocal, linkLocal, unspecified, carrierGradeNat, reserved, multicast,
 * 6to4, teredo, …); an IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === "unicast";
}

/**
 * SSRF guard for webhook URLs: the host must resolve to public addresses only, checked when a webhook
 * is registered and again before each delivery, which then connects to the address checked here (a
 * second resolution could answer differently: DNS rebinding).
 */
export class AddressGuard {
  private readonly allowed: Set<string>;
  private readonly resolveHost: Resolve;

  constructor(private readonly options: AddressGuardOptions) {
    this.allowed = new Set(options.allowedHosts.map(normalHost).filter(Boolean));
    this.resolveHost = options.resolve ?? systemResolve;
  }

  isAllowedHost(hostname: string): boolean {
    return this.allowed.has(normalHost(hostname));
  }

  /**
   * The addresses to connect to for the URL's host, in the resolver's order. Throws RefusedDestination
   * when the host does not resolve or any address it resolves to is not public (one private answer
   * among public ones would let a client pick it), unless the host is allowed.
   */
  async resolve(url: URL, signal?: AbortSignal): Promise<LookupAddress[]> {
    const host = normalHost(url.hostname);
    const allowed = this.allowed.has(host);
    if (ipaddr.isValid(host)) {
      if (!allowed && !isPublicAddress(host)) throw refused();
      return [{ address: host, family: host.includes(":") ? 6 : 4 }];
    }
    let addresses: LookupAddress[];
    try {
      addresses = await withTimeout(this.resolveHost(host), this.options.timeoutMs, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      throw refused();
    }
    if (addresses.length === 0) throw refused();
    if (!allowed && !addresses.every((a) => isPublicAddress(a.address))) throw refused();
    return addresses;
  }
}

// One message whether the host did not resolve or resolved to a private address: telling them apart
// would let a caller map names on the service's internal network.
const refused = () =>
  new RefusedDestination(
    "must be a host that resolves to public addresses only (loopback, private, link-local and other non-public addresses are refused)",
  );

function withTimeout<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal?.reason ?? new Error("aborted"));
    const timer = setTimeout(() => reject(new Error(`no DNS answer in ${ms} ms`)), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  });
}
