/**
 * Key changes over the REST API at a few a second, each followed by Checks on the changed key that
 * assert what a client would see: a new or patched key works at once, a rotated key's new secret
 * works, its old one works through a grace period or stops within MAX_DENY_MS without one, and a
 * revoked key stops within MAX_DENY_MS. These keys are never in the Check generator's set, so its
 * denials stay unexpected.
 */

import { performance } from "node:perf_hooks";
import {
  checkRequestFor,
  describeProbe,
  encodeCheckRequest,
  type ProbeResult,
  probeCheck,
} from "@gateway/bench/authz";
import { sleep } from "@gateway/harness";
import type { AdminApi, AdminResult, KeyAnswer } from "./admin-api.js";
import { type ChurnSummary, type ErrorLog, MAX_DENY_MS } from "./results.js";

const USERS = 10;
const POLL_MS = 50;
/** google.rpc codes the service answers a missing, invalid or revoked key with (401, 403). */
const BAD_KEY_CODES = new Set([16, 7]);
const STEPS = ["create", "patch", "rotate", "revoke"] as const;
type Step = (typeof STEPS)[number];

interface LiveKey {
  id: string;
  secret: string;
  /** The rotated-out secret while its grace period runs. */
  graceSecret: string | undefined;
  serial: number;
}

export class KeyChurn {
  private readonly summary: ChurnSummary = {
    ops: Object.fromEntries(STEPS.map((s) => [s, { calls: 0, failed: 0, maxMs: 0, totalMs: 0 }])),
    opTimes: [],
    probes: 0,
    maxDenyMs: 0,
    denials: 0,
  };
  private sequence = 0;
  private serial = 0;

  constructor(
    private readonly api: AdminApi,
    private readonly grpcPort: number,
    private readonly errors: ErrorLog,
  ) {}

  /** Paced at `rate` changes a second from `startAt` until `endAt` (Date.now() times). */
  async run(startAt: number, endAt: number, rate: number): Promise<ChurnSummary> {
    await sleep(Math.max(0, startAt - Date.now()));
    let key: LiveKey | undefined;
    let step = 0;
    for (let op = 0; ; op++) {
      const due = startAt + (op * 1000) / rate;
      if (due >= endAt) break;
      await sleep(Math.max(0, due - Date.now()));
      const name = STEPS[step] as Step;
      key = await this.perform(name, key);
      this.summary.opTimes.push(Date.now());
      // A failed change abandons the key: the next op starts a new one.
      step = key ? (step + 1) % STEPS.length : 0;
      if (name === "revoke") key = undefined;
    }
    return this.summary;
  }

  private async perform(step: Step, key: LiveKey | undefined): Promise<LiveKey | undefined> {
    if (step === "create" || !key) {
      const serial = this.serial++;
      const answer = await this.rest(
        "create",
        this.api.createKey(`soak-user-${serial % USERS}`, `soak key ${serial}`, 600),
      );
      if (!answer?.key) return undefined;
      const created = { id: answer.id, secret: answer.key, graceSecret: undefined, serial };
      await this.expectAllowed(created.secret, `new key ${created.id}`);
      return created;
    }
    if (step === "patch") {
      const perMinute = 600 + 100 * (key.serial % 10);
      const answer = await this.rest("patch", this.api.patchLimits(key.id, perMinute));
      if (!answer) return undefined;
      if (answer.rate_limit_per_minute !== perMinute) {
        this.errors.add(
          "key changes: patch not applied",
          `${key.id}: answered ${answer.rate_limit_per_minute}`,
        );
      }
      await this.expectAllowed(key.secret, `patched key ${key.id}`);
      return key;
    }
    if (step === "rotate") {
      // Every other rotation keeps the old secret working for a while, as production rotations do.
      const grace = key.serial % 2 === 0 ? "0s" : "10m";
      const answer = await this.rest("rotate", this.api.rotate(key.id, grace));
      const answeredAt = performance.now();
      if (!answer?.key) return undefined;
      const rotated = { ...key, secret: answer.key, graceSecret: grace === "0s" ? undefined : key.secret };
      await this.expectAllowed(rotated.secret, `new secret of rotated key ${key.id}`);
      if (grace === "0s") {
        await this.expectDenied(key.secret, `old secret of ${key.id}, rotated without grace`, answeredAt);
      } else await this.expectAllowed(key.secret, `old secret of ${key.id} inside its grace period`);
      return rotated;
    }
    const answer = await this.rest("revoke", this.api.revoke(key.id));
    const answeredAt = performance.now();
    if (!answer) return undefined;
    if (answer.status !== "revoked") {
      this.errors.add("key changes: revoke not applied", `${key.id}: status ${answer.status}`);
    }
    await this.expectDenied(key.secret, `revoked key ${key.id}`, answeredAt);
    if (key.graceSecret) {
      await this.expectDenied(key.graceSecret, `grace secret of revoked key ${key.id}`, answeredAt);
    }
    return key;
  }

  private async rest(step: Step, call: Promise<AdminResult<KeyAnswer>>): Promise<KeyAnswer | undefined> {
    const result = await call;
    const stats = this.summary.ops[step] as ChurnSummary["ops"][string];
    stats.calls++;
    stats.totalMs += result.ms;
    stats.maxMs = Math.max(stats.maxMs, result.ms);
    if (result.ok) return result.body;
    stats.failed++;
    const kind = result.status === undefined ? "request failed" : `HTTP ${result.status}`;
    this.errors.add(`REST ${step}: ${kind}`, result.error);
    return undefined;
  }

  /**
   * One Check: true when allowed, false when denied as a bad key is (401/403); undefined, counted as
   * an error, for anything else: no gRPC answer, rate limited, or unavailable (the service failing closed).
   */
  private async check(secret: string, what: string): Promise<boolean | undefined> {
    this.summary.probes++;
    const body = encodeCheckRequest(checkRequestFor(secret, this.sequence++));
    let result: ProbeResult;
    try {
      result = await probeCheck(this.grpcPort, body);
    } catch (err) {
      this.errors.add("key changes: Check transport error", `${what}: ${(err as Error).message}`);
      return undefined;
    }
    if (result.httpStatus !== 200 || result.grpcStatus !== "0") {
      this.errors.add("key changes: Check got no gRPC answer", `${what}: ${describeProbe(result)}`);
      return undefined;
    }
    const code = result.response?.status?.code ?? 0;
    if (code === 0) return true;
    if (BAD_KEY_CODES.has(code)) return false;
    const reason = result.response?.dynamic_metadata?.fields?.denied_reason?.stringValue ?? "?";
    this.errors.add(`key changes: Check answered code ${code} (${reason})`, what);
    return undefined;
  }

  private async expectAllowed(secret: string, what: string): Promise<void> {
    if ((await this.check(secret, what)) === false) {
      this.errors.add("key changes: a valid key was denied as a bad key", what);
    }
  }

  /** Polls until denied; `since` is when the change was answered, which the deadline counts from. */
  private async expectDenied(secret: string, what: string, since: number): Promise<void> {
    for (;;) {
      const allowed = await this.check(secret, what);
      const ms = performance.now() - since;
      if (allowed === undefined) return;
      if (!allowed) {
        this.summary.denials++;
        this.summary.maxDenyMs = Math.max(this.summary.maxDenyMs, ms);
        return;
      }
      if (ms >= MAX_DENY_MS) {
        this.errors.add(`key changes: still allowed ${MAX_DENY_MS} ms later`, what);
        return;
      }
      await sleep(POLL_MS);
    }
  }
}
