import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { describe, expect, GRPC_SERVERS, test } from "./fixtures.js";

describe.each(GRPC_SERVERS)("gRPC health on %s", (grpcServer) => {
  test.override({ grpcServer });

  test("reports SERVING for the server and for the Authorization service, NOT_FOUND for others", async ({
    api,
  }) => {
    const Health = grpc.makeClientConstructor(healthService, "Health");
    const client = new Health(`127.0.0.1:${api.grpcPort}`, grpc.credentials.createInsecure()) as unknown as {
      Check(
        req: { service: string },
        cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
      ): void;
      close(): void;
    };
    const check = (service: string) =>
      new Promise<string>((resolve) =>
        client.Check({ service }, (err, res) => resolve(err ? `error ${err.code}` : String(res?.status))),
      );
    try {
      expect(await check("")).toBe("SERVING");
      expect(await check("envoy.service.auth.v3.Authorization")).toBe("SERVING");
      expect(await check("something.Else")).toBe(`error ${grpc.status.NOT_FOUND}`);
    } finally {
      client.close();
    }
  });
});
