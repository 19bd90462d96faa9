import type { CheckRequest } from "@gateway/proto";
import { bearer, envoyCheckRequest, metadataOf } from "./envoy.js";
import { counterTotal, describe, expect, GRPC_SERVERS, test } from "./fixtures.js";

describe.each(GRPC_SERVERS)("bad input over %s", (grpcServer) => {
  test.override({ grpcServer });

  describe("hostile or broken CheckRequests are denied, and malformed keys cost no lookup", () => {
    test("each is answered with a denial, not an error", async ({ api }) => {
      const key = await api.createKey();
      const manyHeaders = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`x-h-${i}`, `v${i}`]));
      const invalidUtf8: CheckRequest = {
        attributes: {
          request: {
            http: {
              header_map: {
                headers: [
                  {
                    key: "authorization",
                    raw_value: Buffer.from([0x42, 0x65, 0x61, 0x72, 0x65, 0x72, 0x20, 0xff, 0xfe, 0xc3]),
                  },
                ],
              },
            },
          },
        },
      };
      const cases: [string, CheckRequest, string][] = [
        ["an empty request", {}, "missing"],
        ["attributes without a request", { attributes: {} }, "missing"],
        ["a request without http", { attributes: { request: {} } }, "missing"],
        [
          "a 64 KB authorization value",
          envoyCheckRequest({ headers: bearer("A".repeat(65_536)) }),
          "malformed",
        ],
        [
          "a 64 KB header that is not the key",
          envoyCheckRequest({ headers: { "x-junk": "j".repeat(65_536) } }),
          "missing",
        ],
        ["five thousand headers and no key", envoyCheckRequest({ headers: manyHeaders }), "missing"],
        ["invalid UTF-8 in a raw header", invalidUtf8, "malformed"],
        [
          "Bearer with nothing after it",
          envoyCheckRequest({ headers: { authorization: "Bearer " } }),
          "malformed",
        ],
        [
          "another scheme only",
          envoyCheckRequest({ headers: { authorization: "Basic dXNlcjpwYXNz" } }),
          "missing",
        ],
        ["the wrong prefix", envoyCheckRequest({ headers: bearer(`sk_${key.key.slice(3)}`) }), "malformed"],
        [
          "a bad checksum",
          envoyCheckRequest({ headers: bearer(`${key.key.slice(0, -6)}000000`) }),
          "malformed",
        ],
        [
          "a key with a NUL",
          envoyCheckRequest({ headers: bearer(`${key.key.slice(0, 10)}\u0000${key.key.slice(11)}`) }),
          "malformed",
        ],
        [
          "two keys merged by Envoy",
          envoyCheckRequest({ headers: { "x-api-key": `${key.key},${key.key}` } }),
          "malformed",
        ],
      ];
      const before = counterTotal(await api.metricsText(), "key_cache_lookups_total");
      for (const [label, request, reason] of cases) {
        const response = await api.check(request, 1_000);
        expect(metadataOf(response).denied_reason, label).toBe(reason);
        expect(response.denied_response?.status?.code, label).toBe("Unauthorized");
      }
      // None of these reached the key cache, so none reached Postgres or Redis either.
      expect(counterTotal(await api.metricsText(), "key_cache_lookups_total")).toBe(before);
    });

    test("an unknown but well-formed key is looked up once, then answered from the negative cache", async ({
      api,
    }) => {
      const ghost = await api.createKey();
      await api.query("delete from api_keys where id = $1", [ghost.id]);
      const request = envoyCheckRequest({ headers: bearer(ghost.key) });
      const before = counterTotal(await api.metricsText(), "key_store_queries_total");
      for (let i = 0; i < 20; i++) expect(metadataOf(await api.check(request)).denied_reason).toBe("unknown");
      expect(counterTotal(await api.metricsText(), "key_store_queries_total") - before).toBe(1);
    });

    test("checks are counted in the metrics by outcome and reason, with a latency histogram", async ({
      api,
    }) => {
      const key = await api.createKey();
      await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      await api.check(envoyCheckRequest());
      const metrics = await api.metricsText();
      expect(metrics).toMatch(/authz_checks_total\{outcome="allowed",reason=""\} 1/);
      expect(metrics).toMatch(/authz_checks_total\{outcome="denied",reason="MISSING"\} 1/);
      expect(metrics).toContain("authz_check_duration_seconds_bucket");
      expect(metrics).toMatch(/key_cache_lookups_total\{result="miss"\} 1/);
    });
  });
});
