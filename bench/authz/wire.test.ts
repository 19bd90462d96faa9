import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { HpackDecoder } from "@gateway/h2-grpc";
import { Histogram } from "@gateway/harness";
import { AUTHORIZATION_CHECK_PATH, type CheckResponse, loadEnvoyServices } from "@gateway/proto";
import { describe, expect, it } from "vitest";
import {
  checkRequestFor,
  checkResponseCode,
  decodeCheckResponse,
  encodeCheckRequest,
} from "./check-request.js";
import { Call, checkHeaderBlocks, H2Connection, RequestTemplate } from "./h2-wire.js";

// The generator trusts these pieces for every response it counts, so they are checked against
// independent references: RFC 7541's own examples and grpc-js's protobuf codec.
describe("HPACK decoder", () => {
  it("decodes RFC 7541 C.4 (Huffman strings, dynamic table across blocks)", () => {
    const decoder = new HpackDecoder(4096);
    expect(decoder.decode(Buffer.from("828684418cf1e3c2e5f23a6ba0ab90f4ff", "hex"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ]);
    expect(decoder.decode(Buffer.from("828684be5886a8eb10649cbf", "hex"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ]);
  });

  it("decodes RFC 7541 C.6.1 (a response with Huffman literals)", () => {
    const block = Buffer.from(
      "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
      "hex",
    );
    expect(new HpackDecoder(256).decode(block)).toEqual([
      [":status", "302"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["location", "https://www.example.com"],
    ]);
  });
});

describe("CheckResponse wire read", () => {
  const method = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check;
  const frame = (message: Buffer) => {
    const out = Buffer.alloc(5 + message.length);
    out.writeUInt32BE(message.length, 1);
    message.copy(out, 5);
    return out;
  };

  it("agrees with the full decode for allowed, denied and empty responses", () => {
    const cases: CheckResponse[] = [
      { status: { code: 0 }, ok_response: { headers: [{ header: { key: "x-key-id", value: "key_1" } }] } },
      { status: { code: 7, message: "no" }, denied_response: { status: { code: "Forbidden" } } },
      { status: { code: 16 } },
      {},
    ];
    for (const response of cases) {
      const body = frame(method.responseSerialize(response));
      expect(checkResponseCode(body)).toBe(decodeCheckResponse(body).status?.code ?? 0);
    }
  });

  it("refuses what is not a gRPC frame", () => {
    expect(checkResponseCode(Buffer.from([0, 0, 0]))).toBe(-1);
    expect(checkResponseCode(Buffer.from([1, 0, 0, 0, 0]))).toBe(-1);
  });

  it("encodes a CheckRequest that round-trips", () => {
    const body = encodeCheckRequest(checkRequestFor("gw_example", 1));
    const decoded = method.requestDeserialize(body.subarray(5));
    expect(decoded.attributes?.request?.http?.headers?.authorization).toBe("Bearer gw_example");
    expect(body.readUInt32BE(1)).toBe(body.length - 5);
  });
});

describe("Histogram", () => {
  it("reports quantiles within 1 %", () => {
    const h = new Histogram();
    for (let us = 1; us <= 100_000; us++) h.record(us);
    for (const q of [0.5, 0.99, 0.999]) {
      const exact = q * 100_000;
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(0.01);
    }
    expect(h.summary().maxUs).toBe(100_000);
  });
});

describe("H2Connection against node:http2", () => {
  it("completes many calls at once, past the server's initial flow-control window", async () => {
    const method = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check;
    const answer = method.responseSerialize({ status: { code: 0 } });
    const framed = Buffer.alloc(5 + answer.length);
    framed.writeUInt32BE(answer.length, 1);
    answer.copy(framed, 5);
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      const seen = headers[":path"] === AUTHORIZATION_CHECK_PATH && headers.te === "trailers";
      stream.on("data", () => {});
      stream.on("end", () => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": seen ? "0" : "12" }));
        stream.end(framed);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const calls = 500;
      const done: Call[] = [];
      let finished: () => void = () => {};
      const allDone = new Promise<void>((resolve) => {
        finished = resolve;
      });
      const connection = await H2Connection.connect(
        port,
        checkHeaderBlocks(port, AUTHORIZATION_CHECK_PATH),
        (call) => {
          done.push(call);
          if (done.length === calls) finished();
        },
        5_000,
      );
      // 500 bodies of ~400 bytes are three times the 65,535-byte window a connection starts with.
      const template = new RequestTemplate(encodeCheckRequest(checkRequestFor("gw_example", 1)));
      for (let i = 0; i < calls; i++) connection.send(template, new Call(0, 0));
      await allDone;
      connection.destroy();
      expect(done.filter((c) => c.error !== undefined)).toEqual([]);
      expect(done.every((c) => c.httpStatus === 200 && c.grpcStatus === "0")).toBe(true);
      expect(done.every((c) => c.body !== undefined && checkResponseCode(c.body) === 0)).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
