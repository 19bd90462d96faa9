import http2 from "node:http2";
import type { CheckResponse__Output } from "@gateway/proto";
import { CHECK_HEADERS, decodeCheckResponse } from "./check-request.js";

export interface ProbeResult {
  httpStatus: number;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  response: CheckResponse__Output | undefined;
}

export function isAllowed(result: ProbeResult): boolean {
  return result.httpStatus === 200 && result.grpcStatus === "0" && (result.response?.status?.code ?? 0) === 0;
}

export function describeProbe(result: ProbeResult): string {
  return `HTTP ${result.httpStatus}, grpc-status ${result.grpcStatus ?? "-"}${
    result.grpcMessage ? ` (${result.grpcMessage})` : ""
  }, CheckResponse ${JSON.stringify(result.response ?? null)}`;
}

/**
 * One Check through node:http2, a different HTTP/2 and HPACK implementation from the generator's:
 * agreement between the two is part of what makes the generator's own checks trustworthy.
 */
export function probeCheck(port: number, body: Buffer, timeoutMs = 5_000): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no Check answer from 127.0.0.1:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (err: Error | undefined, result?: ProbeResult) => {
      clearTimeout(timer);
      session.close();
      if (err) reject(err);
      else if (result) resolve(result);
    };
    session.on("error", (err) => done(err));
    const stream = session.request(CHECK_HEADERS);
    const result: ProbeResult = {
      httpStatus: 0,
      grpcStatus: undefined,
      grpcMessage: undefined,
      response: undefined,
    };
    const chunks: Buffer[] = [];
    const readStatus = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) result.grpcStatus = String(headers["grpc-status"]);
      if (headers["grpc-message"] !== undefined) result.grpcMessage = String(headers["grpc-message"]);
    };
    stream.on("response", (headers) => {
      result.httpStatus = Number(headers[":status"]);
      readStatus(headers);
    });
    stream.on("trailers", readStatus);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (err) => done(err));
    stream.on("close", () => {
      const data = Buffer.concat(chunks);
      try {
        if (data.length >= 5) result.response = decodeCheckResponse(data);
        done(undefined, result);
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });
    stream.end(body);
  });
}
