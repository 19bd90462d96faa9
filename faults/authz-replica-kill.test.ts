import { randomBytes } from "node:crypto";
import { freePort, httpAnswers, type ManagedProcess } from "@gateway/harness";
import { loadEnvoyServices } from "@gateway/proto";
import { describe, expect, type TestServices, test } from "@gateway/testing";
import * as grpc from "@grpc/grpc-js";
import { bearer, envoyCheckRequest, headerMap } from "../api-key-service/test/envoy.js";
import { serviceEntry, startServiceProcess } from "./support/service-process.js";

const ADMIN_TOKEN = randomBytes(24).toString("hex");
/** Per call. Envoy's ext_authz timeout is 250 ms; two shared cores under load need more headroom. */
const DEADLINE_MS = 1_000;
const CLIENTS = 8;
const LIMITED_PER_MINUTE = 300;

interface Replica {
  process: ManagedProcess;
  address: string;
  httpPort: number;
}

async function startReplica(services: TestServices): Promise<Replica> {
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const process = startServiceProcess(serviceEntry.apiKeyService, {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    REDIS_KEY_PREFIX: services.redisPrefix,
    ADMIN_TOKEN,
    HOST: "127.0.0.1",
    HTTP_PORT: String(httpPort),
    GRPC_PORT: String(grpcPort),
    AUTH_HTTP_PORT: "0",
    LOG_LEVEL: "warn",
    // As the in-process fixture does: on a loaded test machine a 50 ms Redis budget would switch to
    // the local fallback limiter, which is per replica and would blur the exact-limit assertion.
    REDIS_TIMEOUT: "1s",
    KEY_LOOKUP_TIMEOUT: "2s",
  });
  await process.waitUntilReady(() => httpAnswers(`http://127.0.0.1:${httpPort}/ready`), 20_000);
  return { process, address: `127.0.0.1:${grpcPort}`, httpPort };
}

async function createKey(replica: Replica, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${replica.httpPort}/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ user_id: "load", name: "replica kill", ...body }),
  });
  if (res.status !== 201) throw new Error(`create key: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

interface Call {
  startedAt: number;
  endedAt: number;
  peer: string;
  /** gRPC status of the call: 0 when the service answered. */
  grpcCode: number;
  /** The decision's code (0 allowed, 8 rate limited) when answered. */
  decision?: number;
  remaining?: string;
  limited: boolean;
}

/**
 * What a user sees. The client here is grpc-js balancing round-robin, which stops picking a replica the
 * moment its connection closes: only the checks already sent to the killed replica fail (UNAVAILABLE).
 * Behind Envoy each of those requests is answered with ext_authz's status_on_error, 503 in
 * envoy/envoy.yaml (fail closed). Envoy's connection pool sees the close as quickly, but its cluster
 * keeps the dead address in the ROUND_ROBIN rotation until the active gRPC health check has failed
 * twice (5 s interval) or DNS stops returning it; checks it sends there meanwhile fail to connect, and
 * those requests get 503 as well. envoy.yaml configures no retry for the check and no outlier
 * detection, either of which would shorten that window.
 */
describe("an api-key-service replica killed under load", () => {
  test("checks on the surviving replica never fail; only the killed one's in-flight checks do; limits stay exact", async ({
    services,
  }) => {
    const replicas = [await startReplica(services), await startReplica(services)];
    const [survivor, victim] = replicas as [Replica, Replica];
    const Authorization = loadEnvoyServices().envoy.service.auth.v3.Authorization;
    // Both addresses behind one channel, balanced per call, as Envoy's ROUND_ROBIN cluster does.
    const client = new Authorization(
      `ipv4:${survivor.address},${victim.address}`,
      grpc.credentials.createInsecure(),
      { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) },
    );
    const calls: Call[] = [];
    let stopped = false;
    try {
      const openKey = await createKey(survivor, {
        rate_limit_per_minute: 1_000_000,
        rate_limit_per_day: 1_000_000,
      });
      const limitedKey = await createKey(survivor, { rate_limit_per_minute: LIMITED_PER_MINUTE });
      const check = (key: string, limited: boolean) =>
        new Promise<Call>((resolve) => {
          const startedAt = performance.now();
          const call = client.Check(
            envoyCheckRequest({ headers: bearer(key) }),
            { deadline: Date.now() + DEADLINE_MS },
            (err, response) => {
              const done: Call = {
                startedAt,
                endedAt: performance.now(),
                peer: call.getPeer(),
                grpcCode: 0,
                limited,
              };
              if (err || !response) done.grpcCode = err?.code ?? -1;
              else {
                done.decision = response.status?.code ?? 0;
                done.remaining = headerMap(response.ok_response?.response_headers_to_add)[
                  "x-ratelimit-remaining"
                ];
              }
              calls.push(done);
              resolve(done);
            },
          );
        });
      const load = Array.from({ length: CLIENTS }, async () => {
        while (!stopped) await check(openKey, false);
      });
      // One client of the limited key, one call at a time, so its admissions have an order.
      const limitedLoad = (async () => {
        while (!stopped) {
          await check(limitedKey, true);
          await new Promise((r) => setTimeout(r, 8));
        }
      })();

      const servedBy = (address: string) =>
        calls.filter((c) => c.peer === address && c.grpcCode === 0).length;
      const limitedAdmitted = () => calls.filter((c) => c.limited && c.decision === 0).length;
      await expect
        .poll(() => Math.min(servedBy(survivor.address), servedBy(victim.address)), { timeout: 15_000 })
        .toBeGreaterThanOrEqual(200);
      await expect.poll(limitedAdmitted, { timeout: 10_000 }).toBeGreaterThanOrEqual(20);
      expect(limitedAdmitted()).toBeLessThan(LIMITED_PER_MINUTE / 2);

      const callsBeforeKill = calls.length;
      victim.process.child.kill("SIGKILL");
      const killedAt = performance.now();
      await victim.process.exited;
      const exitSeenMs = performance.now() - killedAt;
      // Load goes on until the limited key has run out on the survivor and a while has passed.
      await expect
        .poll(
          () =>
            performance.now() - killedAt > 2_000 &&
            calls.filter((c) => c.limited && c.decision === 8 && c.startedAt > killedAt).length >= 10,
          { timeout: 20_000 },
        )
        .toBe(true);
      stopped = true;
      await Promise.all([...load, limitedLoad]);

      const failed = calls.filter((c) => c.grpcCode !== 0);
      const lastFailure = Math.max(killedAt, ...failed.map((c) => c.startedAt));
      const recoveredMs = lastFailure - killedAt;
      const lastFailedEndMs = Math.max(killedAt, ...failed.map((c) => c.endedAt)) - killedAt;
      const codes = [...new Set(failed.map((c) => grpc.status[c.grpcCode] ?? c.grpcCode))].join(", ");
      console.info(
        `FIGURE replica-kill: ${failed.length} of ${calls.length} checks failed (${codes || "none"}), all sent to the killed replica ` +
          `before the client saw its connection close; every check started ${recoveredMs.toFixed(0)} ms or more after SIGKILL succeeded ` +
          `(last failure answered at +${lastFailedEndMs.toFixed(0)} ms; exit seen at +${exitSeenMs.toFixed(0)} ms); ` +
          `${CLIENTS + 1} clients, ${callsBeforeKill} checks before the kill, ${calls.length - callsBeforeKill} after`,
      );

      // The surviving replica never failed a check, before or after the kill.
      expect(calls.filter((c) => c.peer === survivor.address && c.grpcCode !== 0)).toEqual([]);
      // What failed was on the killed replica, with UNAVAILABLE (or its deadline), at the kill.
      for (const c of failed) {
        expect(c.peer, JSON.stringify(c)).toBe(victim.address);
        expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(c.grpcCode);
        expect(c.endedAt).toBeGreaterThanOrEqual(killedAt);
      }
      expect(recoveredMs).toBeLessThan(1_000);
      // The survivor took all of the load after that.
      const lateCalls = calls.filter((c) => c.startedAt > lastFailure);
      expect(lateCalls.length).toBeGreaterThan(200);
      expect(lateCalls.every((c) => c.peer === survivor.address && c.grpcCode === 0)).toBe(true);

      // The limited key, one call at a time: admitted across both replicas, then by the survivor alone,
      // counting on from the shared Redis. Its remaining count goes down by exactly one per admission;
      // a larger step is an admission whose answer was lost with the killed replica (a failed call).
      const limited = calls.filter((c) => c.limited).sort((a, b) => a.startedAt - b.startedAt);
      const admitted = limited.filter((c) => c.decision === 0);
      const remaining = admitted.map((c) => Number(c.remaining));
      const skipped = remaining.map(
        (r, i) => (i === 0 ? LIMITED_PER_MINUTE : (remaining[i - 1] as number)) - 1 - r,
      );
      const lostAdmissions = skipped.reduce((a, b) => a + b, 0);
      console.info(
        `FIGURE replica-kill limit: ${admitted.length} admitted + ${lostAdmissions} admitted with the answer lost = ${LIMITED_PER_MINUTE} (the limit); ` +
          `${admitted.filter((c) => c.startedAt > killedAt).length} by the survivor after the kill; ` +
          `${limited.filter((c) => c.decision === 8).length} refused`,
      );
      expect(admitted.some((c) => c.startedAt < killedAt && c.peer === victim.address)).toBe(true);
      expect(admitted.some((c) => c.startedAt > killedAt)).toBe(true);
      expect(admitted.length).toBeLessThanOrEqual(LIMITED_PER_MINUTE);
      expect(
        skipped.filter((n) => n < 0),
        "remaining counts that went up",
      ).toEqual([]);
      expect(lostAdmissions).toBeLessThanOrEqual(limited.filter((c) => c.grpcCode !== 0).length);
      expect(remaining.at(-1)).toBe(0);
      // Nothing admitted once the limit was reached.
      const lastAdmission = admitted.at(-1)?.startedAt ?? 0;
      expect(limited.filter((c) => c.startedAt > lastAdmission).every((c) => c.decision === 8)).toBe(true);
    } finally {
      stopped = true;
      client.close();
      await Promise.all(replicas.map((r) => r.process.stop("SIGTERM")));
    }
  });
});
